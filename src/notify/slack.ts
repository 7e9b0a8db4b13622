/**
 * Slack incoming webhook, with Block Kit (https://api.slack.com/messaging/webhooks,
 * https://api.slack.com/reference/block-kit/blocks). One message when a run starts and one when it
 * ends (done, failed-and-put-back, partial); each names the environment, the date, every service
 * old -> new, and the approver. The webhook URL is a secret: it is registered for masking and
 * never appears in a message or log line.
 */
import { RollbackError } from '../errors';
import type { HttpClient } from '../http/client';
import { addSecret } from '../log';
import { heldWords } from '../plan/plan';
import { short, undoesSummary, type Undoes } from '../plan/undoes';
import type { Notifier, RunEvent, RunInfo } from './types';

export interface SlackOptions {
  webhook: string;
  channel?: string;
  http: HttpClient;
}

// Block Kit limits a section's text to 3000 characters; stay well below it per block.
const SECTION_LIMIT = 2800;

function shortImage(ref: string): string {
  // Host and digest make lines unreadable in Slack; the tag and a short digest say enough.
  const noHost = ref.replace(/^[^/]+\.[^/]*\/|^[^/]+:\d+\//, '');
  return noHost.replace(/@sha256:([0-9a-f]{12})[0-9a-f]*$/, '@$1');
}

function title(event: RunEvent): string | undefined {
  const r = event.run;
  const what = r.action === 'undo' ? `Undo of the last rollback of *${r.environment}*` : `Rollback of *${r.environment}* to *${r.date}*`;
  switch (event.type) {
    case 'started': return `:rewind: ${what} started by ${r.approver}.`;
    case 'done': return `:white_check_mark: ${what} is done (approved by ${r.approver}).`;
    case 'failed': return `:warning: ${what} failed and every changed service was put back (approved by ${r.approver}): ${event.reason}`;
    case 'partial': return `:rotating_light: ${what} failed and could NOT be fully put back (approved by ${r.approver}): ${event.reason}`;
    default: return undefined; // per-service events would flood the channel
  }
}

/** Slack mrkdwn takes &, < and > as control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Under a change, what it takes away: the compare link and "takes away N commits: <first titles>"
 * (or why the list is unavailable), and the forward warning. Nothing when no image carries labels.
 */
function undoesLine(u: Undoes): string {
  const revs = `${u.from ? short(u.from) : '?'} → ${u.to ? short(u.to) : '?'}`;
  const link = u.compare ? `<${u.compare.replace(/[<>|]/g, encodeURIComponent)}|${revs}>` : revs;
  const what = !u.from && !u.to ? 'no revision labels' : undoesSummary(u);
  return `    ${link}${what ? ` ${escape(what)}` : ''}${u.forward ? `\n    :warning: ${escape(u.forward)}` : ''}`;
}

function changeLines(run: RunInfo): string[] {
  // A fleet whose images carry no revision labels keeps its message as it was (as the plan does).
  const told = run.changes.some((c) => c.undoes && (c.undoes.from || c.undoes.to || c.undoes.source || c.undoes.forward));
  return [
    ...run.changes.map((c) => `• \`${c.service}\`: ${shortImage(c.from)} → ${shortImage(c.to)}${c.day ? ` (from ${c.day})` : ''}${told && c.undoes ? `\n${undoesLine(c.undoes)}` : ''}`),
    // A partial rollback says who stayed, so nobody reads it as the whole fleet.
    ...(run.held ?? []).map((h) => `• \`${h.service}\`: held back (${heldWords(h.by)}), stays on ${shortImage(h.image)}`),
  ];
}

/** The Block Kit payload for an event, or undefined for events Slack does not get. */
export function slackMessage(event: RunEvent, channel?: string): Record<string, unknown> | undefined {
  const head = title(event);
  if (!head) return undefined;
  const r = event.run;
  const blocks: Record<string, unknown>[] = [{ type: 'section', text: { type: 'mrkdwn', text: head.slice(0, SECTION_LIMIT) } }];
  let chunk = '';
  for (const line of changeLines(r)) {
    if (chunk.length + line.length + 1 > SECTION_LIMIT) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: chunk } });
      chunk = '';
    }
    chunk += (chunk ? '\n' : '') + line;
  }
  if (chunk) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: chunk } });
  if (event.type === 'partial') {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: event.states.map((s) => `• \`${s.service}\`: ${s.state}`).join('\n').slice(0, SECTION_LIMIT) } });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `environment ${r.environment} · ${r.date ? `date ${r.date} · ` : ''}approver ${r.approver} · ${r.target}`.slice(0, 1900) }] });
  // `text` is the notification fallback (and what screen readers get).
  const heldText = r.held?.length ? `; held back: ${r.held.map((h) => h.service).join(', ')}` : '';
  const text = `${head.replace(/^:[a-z_]+:\s*/, '').replace(/\*/g, '').trim()} ${r.changes.map((c) => `${c.service}: ${shortImage(c.from)} -> ${shortImage(c.to)}`).join('; ')}${heldText}`.slice(0, 3000);
  return { ...(channel ? { channel } : {}), text, blocks };
}

function webhookPath(url: string): string | undefined {
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}

export function createSlackNotifier(o: SlackOptions): Notifier {
  addSecret(o.webhook);
  // The path alone is the secret too: a proxy or Slack's own error page may quote it without the host.
  addSecret(webhookPath(o.webhook));
  return {
    name: 'Slack',
    async notify(event: RunEvent): Promise<void> {
      const payload = slackMessage(event, o.channel);
      if (!payload) return;
      // POST is not idempotent: the client retries it only when no answer came (or 429/503).
      const res = await o.http.request(o.webhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        timeoutMs: 15_000,
      });
      if (res.status !== 200) {
        // Never name the URL: its path is the secret. Slack answers a short reason ("invalid_payload").
        const why = res.body.toString('utf8').slice(0, 100).replace(/\s+/g, ' ').trim();
        throw new RollbackError('failed', `the Slack webhook answered ${res.status}${why ? ` (${why})` : ''}.`);
      }
    },
  };
}
