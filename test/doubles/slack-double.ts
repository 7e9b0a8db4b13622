/**
 * A Slack incoming-webhook double (https://api.slack.com/messaging/webhooks): records every post,
 * answers 200 "ok" like Slack, or a chosen failure. The webhook path is a secret in real life, so
 * tests give it a recognizable secret path and then grep outputs for it.
 *
 *   const slack = await startSlack();            // slack.webhook = http://127.0.0.1:PORT/services/T0/B0/<secret>
 *   slack.fail = { status: 500 };                // every post fails until cleared
 *   slack.posts[0].body.blocks ...               // what was posted, parsed
 */
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface SlackPost {
  path: string;
  body: { text?: string; blocks?: unknown[]; channel?: string } & Record<string, unknown>;
  raw: string;
}

export interface SlackDouble {
  url: string;
  /** The full webhook URL, with its secret path. */
  webhook: string;
  secret: string;
  posts: SlackPost[];
  /** Answer this status (and Slack's short reason) instead of 200 ok. */
  fail?: { status: number; reason?: string };
  /** Every text the posts carry, joined (for "names D and alice" style assertions). */
  allText(): string;
  stop(): Promise<void>;
}

export async function startSlack(): Promise<SlackDouble> {
  const secret = randomBytes(12).toString('hex');
  const path = `/services/T00000000/B00000000/${secret}`;
  const posts: SlackPost[] = [];
  const double: Partial<SlackDouble> = { posts, secret };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (req.url !== path || req.method !== 'POST') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('no_service');
        return;
      }
      if (double.fail) {
        res.writeHead(double.fail.status, { 'content-type': 'text/plain' });
        res.end(double.fail.reason ?? 'internal_error');
        return;
      }
      let body: SlackPost['body'];
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('invalid_payload');
        return;
      }
      posts.push({ path: req.url, body, raw });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(double, {
    url,
    webhook: `${url}${path}`,
    allText: () => posts.map((p) => p.raw).join('\n'),
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  }) as SlackDouble;
}
