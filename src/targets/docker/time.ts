/** Clock and pause, injected into the Docker targets so tests drive time instead of waiting on it. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The clock a target context carries (tests and chaos suites inject now/sleep), else real time. */
export function clockOf(ctx: { now?: () => Date; sleep?: (ms: number) => Promise<void> }): Clock {
  const now = ctx.now;
  return { now: now ? () => now().getTime() : realClock.now, sleep: ctx.sleep ?? realClock.sleep };
}

/**
 * The engine writes RFC 3339 times with nanoseconds ("2026-11-21T21:04:16.123456789Z"); Date.parse
 * is only specified for milliseconds, so the extra digits are cut first. Undefined when absent or
 * the zero time Go prints for "never" (0001-01-01T00:00:00Z).
 */
export function engineTime(value: string | undefined): number | undefined {
  if (!value || value.startsWith('0001-01-01')) return undefined;
  const ms = Date.parse(value.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(ms) ? undefined : ms;
}
