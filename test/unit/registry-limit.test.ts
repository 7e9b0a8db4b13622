import fc from 'fast-check';
import { createLimiter } from '../../src/registry/limit';

describe('createLimiter', () => {
  it('never runs more than its size at once, runs every task, and starts them in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(fc.nat({ max: 3 }), { maxLength: 60 }), async (size, ticks) => {
        const limiter = createLimiter(size);
        let running = 0;
        let peak = 0;
        const started: number[] = [];
        const results = await Promise.all(
          ticks.map((t, i) =>
            limiter.run(async () => {
              started.push(i);
              running++;
              peak = Math.max(peak, running);
              for (let k = 0; k < t; k++) await Promise.resolve();
              running--;
              return i;
            }),
          ),
        );
        expect(results).toEqual(ticks.map((_, i) => i));
        expect(peak).toBeLessThanOrEqual(size);
        expect(started).toEqual(ticks.map((_, i) => i));
        expect(limiter.active()).toBe(0);
      }),
    );
  });

  it('keeps FIFO order through a long queue (past its compaction)', async () => {
    const limiter = createLimiter(2);
    const started: number[] = [];
    await Promise.all(Array.from({ length: 5000 }, (_, i) => limiter.run(async () => void started.push(i))));
    expect(started).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  it('frees the slot of a task that throws', async () => {
    const limiter = createLimiter(1);
    await expect(limiter.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limiter.run(async () => 'next')).resolves.toBe('next');
  });
});

describe('createLimiter, moved while it runs', () => {
  /** A task that runs until `release` is called, counting how many run at once. */
  function gate() {
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const task = () =>
      new Promise<void>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        releases.push(() => {
          running--;
          resolve();
        });
      });
    return { task, releaseAll: () => releases.splice(0).forEach((r) => r()), peak: () => peak, resetPeak: () => (peak = running), running: () => running };
  }
  const tick = () => new Promise((r) => setImmediate(r));

  it('lowered, lets the running tasks finish and starts no new one above the new bound', async () => {
    const limiter = createLimiter(4);
    const g = gate();
    let done = false;
    const all = Promise.all(Array.from({ length: 12 }, () => limiter.run(g.task))).then(() => (done = true));
    await tick();
    expect(g.running()).toBe(4);
    limiter.resize(2);
    g.releaseAll();
    g.resetPeak();
    for (let i = 0; i < 20 && !done; i++) {
      await tick();
      g.releaseAll();
    }
    await all;
    expect(g.peak()).toBeLessThanOrEqual(2);
    expect(limiter.size()).toBe(2);
  });

  it('raised, starts waiting tasks at once', async () => {
    const limiter = createLimiter(1);
    const g = gate();
    const all = Promise.all(Array.from({ length: 6 }, () => limiter.run(g.task)));
    await tick();
    expect(g.running()).toBe(1);
    limiter.resize(4);
    await tick();
    expect(g.running()).toBe(4);
    while (g.running() > 0) {
      g.releaseAll();
      await tick();
    }
    await all;
  });

  it('paused, starts nothing before the time given, then everything in order', async () => {
    let clock = 1000;
    const limiter = createLimiter(2, () => clock);
    const started: number[] = [];
    limiter.pauseUntil(1050);
    const all = Promise.all([0, 1, 2].map((i) => limiter.run(async () => void started.push(i))));
    await tick();
    expect(started).toEqual([]);
    clock = 1060;
    await new Promise((r) => setTimeout(r, 80));
    await all;
    expect(started).toEqual([0, 1, 2]);
  });
});
