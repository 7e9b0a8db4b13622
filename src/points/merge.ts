/**
 * Release points from what is known about the fleet's past (pure): ledger records, each a point
 * of its own, and per-service changes a target remembers (Marathon's app versions, the docker
 * history file...), merged into fleet points: changes less than `releaseWindow` minutes apart are
 * one release, whose point is the moment after its last change. At a point, each service runs the
 * image of its latest known change (or record) at or before that moment.
 */
import { parseImageRef } from '../image/reference';
import { pointTime, recordOrigin, sameFleet, type LedgerImage, type LedgerRecord } from '../ledger/types';

/** One change of one service, as a target remembers it. */
export interface ServiceChange {
  service: string;
  /** When the change was made (ISO 8601). */
  time: string;
  /** Digest-pinned reference; absent when it could not be pinned (the service has no known image from then on, until its next change). */
  image?: string;
  /** Where it is remembered, for people: "Marathon versions". */
  source: string;
}

export interface ReleasePoint {
  /** YYYY-MM-DDTHH:MM:SSZ */
  time: string;
  /** Where the point comes from: "Jenkins #412", "run by alice", "Marathon versions". */
  origin: string;
  /** Every service with a known image at that moment, digest-pinned, in configuration order. */
  services: LedgerImage[];
}

export function mergePoints(records: LedgerRecord[], changes: ServiceChange[], windowMinutes: number, order: string[]): ReleasePoint[] {
  const windowMs = windowMinutes * 60_000;
  const byOrder = (list: LedgerImage[]) => [...list].sort((a, b) => order.indexOf(a.service) - order.indexOf(b.service));
  // Every known image of every service, in time order: what the fleet ran, service by service.
  const events = [
    ...records.flatMap((r) => r.services.map((s) => ({ service: s.service, at: Date.parse(r.time), image: s.image }))),
    ...changes.map((c) => ({ service: c.service, at: Date.parse(c.time), image: c.image })),
  ].filter((e) => order.includes(e.service) && !Number.isNaN(e.at)).sort((a, b) => a.at - b.at);
  const fleetAt = (at: number): LedgerImage[] => {
    const now = new Map<string, string>();
    for (const e of events) {
      if (e.at > at) continue;
      if (e.image) now.set(e.service, e.image);
      else now.delete(e.service);
    }
    return byOrder([...now].map(([service, image]) => ({ service, image })));
  };

  const points: ReleasePoint[] = records.map((r) => ({ time: r.time, origin: recordOrigin(r.by), services: byOrder(r.services.filter((s) => order.includes(s.service))) }));
  const sorted = [...changes].filter((c) => order.includes(c.service) && !Number.isNaN(Date.parse(c.time))).sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  let i = 0;
  while (i < sorted.length) {
    // A release: changes each less than the window after the previous one (a slow rolling deploy stays one).
    let j = i;
    while (j + 1 < sorted.length && Date.parse(sorted[j + 1].time) - Date.parse(sorted[j].time) < windowMs) j++;
    const first = Date.parse(sorted[i].time);
    const last = Date.parse(sorted[j].time);
    const time = pointTime(last);
    const services = fleetAt(Math.floor(last / 1000) * 1000 + 999);
    const sources = [...new Set(sorted.slice(i, j + 1).map((c) => c.source))].join(', ');
    // A record of the same fleet around the same release (a run or a deploy pipeline recorded it) is that point already.
    const recorded = records.some((r) => Math.abs(Date.parse(r.time) - last) <= windowMs + (last - first) && sameFleet(r.services.filter((s) => order.includes(s.service)), services));
    if (!recorded && !points.some((p) => p.time === time)) points.push({ time, origin: sources, services });
    i = j + 1;
  }
  return points.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
}

/** "orders 105, inventory 303, web 404 (Jenkins #412)": what ran at a point and where it came from. */
export function describePoint(point: ReleasePoint): string {
  const what = point.services.map((s) => `${s.service} ${parseImageRef(s.image).tag ?? parseImageRef(s.image).digest?.slice(7, 19) ?? '?'}`).join(', ');
  return `${what || 'no known image'} (${point.origin})`;
}

/**
 * "2026-11-25T14:02:11Z  orders 105, inventory 303, web 404 (Jenkins #412)": a point as people choose
 * it (rollback select, get's stderr, the Jenkins question). It starts with the time and two spaces, so
 * the time can always be read back from it.
 */
export function pointLabel(point: ReleasePoint): string {
  return `${point.time}  ${describePoint(point)}`;
}
