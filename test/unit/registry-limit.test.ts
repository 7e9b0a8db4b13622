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
