/**
 * What the bench reads from other processes' text: the summary line `rollback get` ends with, and a
 * process's CPU time from /proc/<pid>/stat. Pure parsers (and one small reader), so the smoke test
 * can check them without a registry.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export interface GetSummary {
  tags: number;
  services: number;
  seconds: number;
  requests: number;
  /** "HTTP/2" or "HTTP/1.1", when the worker says which protocol carried its requests. */
  protocol?: string;
  /** Connections the worker opened, when it says. */
  connections?: number;
}

/**
 * The last "Read N <env> tags of S services in X s (R requests[ over HTTP/v][, C connections]); kept ..."
 * line of a get's stderr. Over TLS the delay proxy sees only ciphertext, so the TLS rows take their
 * request counts from here.
 */
export function parseGetSummary(stderr: string): GetSummary | undefined {
  let found: GetSummary | undefined;
  for (const line of stderr.split('\n')) {
    const m = /\bRead (\d+) \S+ tags of (\d+) services in ([\d.]+) s \((\d+) requests?([^)]*)\)/.exec(line);
    if (!m) continue;
    const rest = m[5];
    const protocol = /\bover (HTTP\/[\d.]+)/.exec(rest)?.[1];
    const connections = /\b(\d+) connections?\b/.exec(rest)?.[1];
    found = {
      tags: Number(m[1]),
      services: Number(m[2]),
      seconds: Number(m[3]),
      requests: Number(m[4]),
      ...(protocol ? { protocol } : {}),
      ...(connections ? { connections: Number(connections) } : {}),
    };
  }
  return found;
}

/**
 * The HTTP requests skopeo --debug logged on stderr: one `level=debug msg="GET https://host/v2/..."`
 * line per request it sends (containers/image's docker client), pings and failed probes included.
 */
export function countSkopeoRequests(stderr: string): number {
  return (stderr.match(/level=debug msg="(?:GET|HEAD|POST|PUT|PATCH|DELETE) https?:\/\//g) ?? []).length;
}

/**
 * User + system CPU seconds of a process from the text of /proc/<pid>/stat (proc(5): fields 14 and
 * 15, utime and stime, in clock ticks). The command name (field 2) is in parentheses and may hold
 * spaces, so fields are counted from the last ')'.
 */
export function cpuSecondsFromStat(stat: string, clockTicks: number): number {
  const after = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  // after[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(after[11]);
  const stime = Number(after[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime) || !(clockTicks > 0)) return Number.NaN;
  return (utime + stime) / clockTicks;
}

let ticks: number | undefined;
/** `getconf CLK_TCK` (100 on Linux nearly everywhere), asked once. */
export function clockTicks(): number {
  if (ticks === undefined) ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return ticks;
}

/** CPU seconds a running process has used so far; NaN when it cannot be read (no /proc, gone). */
export function processCpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    return cpuSecondsFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'), clockTicks());
  } catch {
    return Number.NaN;
  }
}
