/**
 * A TCP proxy on loopback that makes every request pay a network round trip.
 *
 * Why a proxy and not `tc netem`: it needs no root, no network namespace and no kernel module,
 * so `npm run bench` behaves the same on a laptop, a CI box and here.
 *
 * The model of the network:
 * - every chunk, in either direction, arrives `rtt / 2` after it was sent, in order. A request
 *   and its answer therefore cost one full `rtt`, also on a kept-alive connection (a proxy that
 *   only delayed the connection would let keep-alive skip the delay).
 * - a new connection costs one extra `rtt` before its first byte is read (the TCP handshake a
 *   real network charges): that is what makes connection reuse visible in the figures.
 * - a small fixed cost per chunk is ignored (bandwidth on loopback is not what we measure).
 *
 * It also counts HTTP requests (request lines seen from the client), so tools we do not control
 * (skopeo) are counted the same way as our own worker.
 */
import { createServer, Server, Socket, connect } from 'node:net';

export interface DelayProxy {
  /** 127.0.0.1:PORT of the proxy, as image references spell a host. */
  host: string;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The round trip every request pays, in milliseconds. */
  rttMs: number;
  /** HTTP requests and TCP connections seen since the last reset. */
  counts(): { requests: number; connections: number; byMethod: Record<string, number> };
  reset(): void;
  close(): Promise<void>;
}

// A request line: METHOD SP target SP HTTP/1.x CRLF, at the start of a chunk or after a CRLF.
const REQUEST_LINE = /(?:^|\r\n)(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ HTTP\/1\.[01]\r\n/g;

/** Counts the HTTP request lines in a chunk sent by a client. Pure; exported for the smoke test. */
export function countRequestLines(chunk: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of chunk.matchAll(REQUEST_LINE)) out[m[1]] = (out[m[1]] ?? 0) + 1;
  return out;
}

/**
 * Forwards `from` to `to`, each chunk `delayMs` later, in order. Constant delay keeps the order:
 * timers with equal timeouts fire in the order they were set. The end travels the same way,
 * after the last chunk; a socket both of whose directions have ended is destroyed by node.
 */
function pipeDelayed(from: Socket, to: Socket, delayMs: number, onChunk?: (chunk: Buffer) => void): void {
  let ended = false;
  let inFlight = 0;
  from.on('data', (chunk: Buffer) => {
    onChunk?.(chunk);
    inFlight++;
    setTimeout(() => {
      inFlight--;
      if (!to.destroyed) to.write(chunk);
      if (ended && inFlight === 0) to.end();
    }, delayMs);
  });
  from.on('end', () => {
    ended = true;
    if (inFlight === 0) setTimeout(() => to.end(), delayMs);
  });
}

/** Starts a proxy to `target` (host:port on loopback) with the given round-trip time. */
export async function startDelayProxy(target: { host: string; port: number }, rttMs: number): Promise<DelayProxy> {
  if (!/^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(target.host)) {
    // The bench only ever talks to servers it started itself, on this machine.
    throw new Error(`delay proxy target must be on loopback, not ${target.host}`);
  }
  const half = rttMs / 2;
  let requests = 0;
  let connections = 0;
  let byMethod: Record<string, number> = {};
  const sockets = new Set<Socket>();

  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    connections++;
    const upstream = connect({ port: target.port, host: target.host, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    // A reset on either side resets both. A clean close travels as a delayed `end` (half-open
    // sockets), so an answer still in flight reaches the client before its connection closes.
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    pipeDelayed(client, upstream, half, (chunk) => {
      for (const [method, n] of Object.entries(countRequestLines(chunk.toString('latin1')))) {
        requests += n;
        byMethod[method] = (byMethod[method] ?? 0) + n;
      }
    });
    pipeDelayed(upstream, client, half);
    // The handshake: nothing the client sent is read before one round trip has passed.
    setTimeout(() => client.resume(), rttMs);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    rttMs,
    counts: () => ({ requests, connections, byMethod: { ...byMethod } }),
    reset: () => {
      requests = 0;
      connections = 0;
      byMethod = {};
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
