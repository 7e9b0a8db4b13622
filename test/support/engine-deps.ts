/**
 * What the engine suites pass the run engine: a target, a memory logger, a notifier that keeps
 * every event, a registry that has every image, and a driven clock (sleep moves time on at once,
 * so waits and deadlines cost no real time).
 */
import type { Target } from '../../src/targets/types';
import { memoryLogger } from '../../src/log';
import type { RunEvent } from '../../src/notify/types';
import type { EngineDeps } from '../../src/run/engine';

export function engineDeps(target: Target, stateDir: string, extra: Partial<EngineDeps> = {}) {
  const logger = memoryLogger();
  const events: RunEvent[] = [];
  let t = Date.parse('2026-11-21T03:00:00Z');
  const d: EngineDeps = {
    target, logger, stateDir,
    notifier: { name: 'memory', notify: async (e) => { events.push(e); } },
    imageExists: async () => true,
    now: () => new Date(t),
    sleep: async (ms) => { t += ms; },
    ...extra,
  };
  return { d, logger, events };
}
