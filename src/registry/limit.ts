/**
 * Bounded concurrency: at most `size` tasks run at once; the rest wait in FIFO order.
 * The registry client takes one slot per HTTP request (never while waiting on another request),
 * so nesting repositories -> tags -> blobs can never deadlock and the bound holds across all of them.
 */
export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks running now (for tests). */
  active(): number;
}

export function createLimiter(size: number): Limiter {
  if (!Number.isInteger(size) || size < 1) throw new Error(`concurrency must be a positive integer, not ${size}`);
  let running = 0;
  // A queue with a moving head: shift() would copy the whole array each time, and a get of
  // 100k tags queues 100k requests at once.
  let waiting: (() => void)[] = [];
  let head = 0;
  const release = () => {
    running--;
    if (head < waiting.length) {
      const next = waiting[head];
      waiting[head++] = undefined as never;
      if (head > 1024 && head * 2 > waiting.length) {
        waiting = waiting.slice(head);
        head = 0;
      }
      next();
    }
  };
  return {
    active: () => running,
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (running >= size) await new Promise<void>((resolve) => waiting.push(resolve));
      running++;
      try {
        return await task();
      } finally {
        release();
      }
    },
  };
}
