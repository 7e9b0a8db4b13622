import { memoryLogger, mask } from '../../src/log';
import { createHttpClient } from '../../src/http/client';
import { approverOf, fanOut } from '../../src/notify/index';
import { createSlackNotifier, slackMessage } from '../../src/notify/slack';
import type { RunInfo } from '../../src/notify/types';
import { startSlack } from '../doubles/slack-double';

const run = (n = 3): RunInfo => ({
  action: 'run', environment: 'prod', date: '2026-11-19', approver: 'alice', target: 'Marathon at http://m/ under /ds/prod', dryRun: false,
  changes: Array.from({ length: n }, (_, i) => ({ service: `svc${i}`, from: `reg.example.com/shop/svc${i}:9-prod`, to: `reg.example.com/shop/svc${i}:8-prod@sha256:${'ab'.repeat(32)}`, day: '2026-11-18' })),
});

describe('Slack messages and the notifier fan-out', () => {
  it('names environment, date, approver and every service old -> new, in Block Kit within its limits', () => {
    const msg = slackMessage({ type: 'done', run: run() })!;
    expect(msg.text).toMatch(/^Rollback of prod to 2026-11-19 is done \(approved by alice\)\. svc0: shop\/svc0:9-prod -> shop\/svc0:8-prod@abababababab; /);
    const text = JSON.stringify(msg);
    for (const s of ['prod', '2026-11-19', 'alice', 'svc0', 'svc2', 'shop/svc1:9-prod → shop/svc1:8-prod@abababababab']) expect(text).toContain(s);
    const big = slackMessage({ type: 'started', run: run(300) })!;
    const blocks = big.blocks as { type: string; text?: { text: string } }[];
    expect(blocks.every((b) => !b.text || b.text.text.length <= 3000)).toBe(true);
    expect(blocks.map((b) => b.text?.text ?? '').join('\n')).toContain('svc299');
    expect(slackMessage({ type: 'service-done', run: run(), change: run().changes[0] })).toBeUndefined();
    const partial = JSON.stringify(slackMessage({ type: 'partial', run: run(), reason: 'r', states: [{ service: 'svc1', state: 'NOT put back' }] }));
    expect(partial).toContain('could NOT be fully put back');
    expect(partial).toContain('svc1`: NOT put back');
  });

  it('names what was held back, and what it stays on, in the blocks and in the fallback text', () => {
    const held: RunInfo['held'] = [{ service: 'payments', by: 'except', image: 'reg.example.com/shop/payments:9-prod' }, { service: 'ledger', by: 'config', image: 'reg.example.com/shop/ledger:4-prod' }];
    for (const type of ['started', 'done'] as const) {
      const msg = slackMessage({ type, run: { ...run(2), held } })!;
      const blocks = (msg.blocks as { text?: { text: string } }[]).map((b) => b.text?.text ?? '').join('\n');
      expect(blocks).toContain('• `payments`: held back (by --except), stays on shop/payments:9-prod');
      expect(blocks).toContain('• `ledger`: held back (by config), stays on shop/ledger:4-prod');
      expect(msg.text).toMatch(/; held back: payments, ledger$/);
    }
    expect(JSON.stringify(slackMessage({ type: 'done', run: run(2) }))).not.toContain('held back');
  });

  it('what a change takes away: titles escaped for mrkdwn, the forward warning; nothing when no image carries revision labels', () => {
    const blocks = (r: RunInfo) => (slackMessage({ type: 'started', run: r })!.blocks as { text?: { text: string } }[]).map((b) => b.text?.text ?? '').join('\n');
    const unlabelled = { ...run(2), changes: run(2).changes.map((c) => ({ ...c, undoes: { unavailable: 'neither image says which commit it was built from' } })) };
    expect(blocks(unlabelled)).toBe(blocks(run(2)));
    const [a, b] = run(2).changes;
    const told = blocks({ ...run(2), changes: [
      { ...a, undoes: { from: 'c'.repeat(40), to: 'd'.repeat(40), compare: 'https://github.com/shop/svc0/compare/d...c', count: 5, commits: [{ sha: 'c'.repeat(40), title: 'Use <Cart> & badge' }], forward: 'svc0 moves FORWARD, not back: it runs an older image.' } },
      { ...b, undoes: { unavailable: 'neither image says which commit it was built from' } },
    ] });
    expect(told).toContain(`    <https://github.com/shop/svc0/compare/d...c|ccccccc → ddddddd> takes away 5 commits: Use &lt;Cart&gt; &amp; badge; and 4 more\n    :warning: svc0 moves FORWARD, not back: it runs an older image.`);
    expect(told).toContain('8-prod@abababababab (from 2026-11-18)\n    ? → ? no revision labels');
  });

  it('posts to the webhook; a Slack failure is a warning naming Slack, never the URL', async () => {
    const slack = await startSlack();
    const http = createHttpClient({ sleep: async () => {}, attempts: 2 });
    try {
      const logger = memoryLogger();
      const notifier = fanOut([createSlackNotifier({ webhook: slack.webhook, http })], logger);
      await notifier.notify({ type: 'started', run: run() });
      expect(slack.posts).toHaveLength(1);
      expect(slack.posts[0].body.text).toContain('Rollback of prod to 2026-11-19 started by alice');
      slack.fail = { status: 500, reason: 'internal_error' };
      await notifier.notify({ type: 'done', run: run() });
      expect(logger.lines).toEqual(['warning: Slack notification (done) failed, the rollback goes on: the Slack webhook answered 500 (internal_error).']);
      expect(mask(slack.webhook)).toBe('***');
    } finally {
      await http.close();
      await slack.stop();
    }
  });

  it('takes the approver from --approver, else the Jenkins build user, else the login', () => {
    expect(approverOf('carol', { BUILD_USER: 'Bob B', USER: 'jenkins' })).toBe('carol');
    expect(approverOf(undefined, { BUILD_USER: 'Bob B', BUILD_USER_ID: 'bob', USER: 'jenkins' })).toBe('Bob B');
    expect(approverOf(undefined, { BUILD_USER_ID: 'bob', USER: 'jenkins' })).toBe('bob');
    expect(approverOf(' ', { USER: 'jenkins' })).toBe('jenkins');
    expect(approverOf(undefined, {})).toBe('unknown');
  });
});
