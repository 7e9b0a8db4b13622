/**
 * Bounded concurrency: at most `size` tasks run at once; the rest wait in FIFO order.
 * The registry client takes one slot per HTTP request (never while waiting on another request),
 * so nesting repositories -> tags -> blobs can never deadlock and the bound holds across all of them.
 *
 * The bound can move while tasks run: the registry client raises it when the registry speaks
 * HTTP/2 and the user left registry.concurrency unset, and halves it when the registry answers
 * 429 Too Many Requests. Lowering never cancels a running task: the tasks above the new bound
 * finish, and no new one starts until the count is under it.
 */
export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks running now (for tests). */
  active(): number;
  /** The bound now. */
  size(): number;
  /** Moves the bound; waiting tasks start at once when it grows. */
  resize(size: number): void;
  /** Starts no new task before this time (Date.now() milliseconds): a registry's Retry-After. */
  pauseUntil(at: number): void;
}

const checkSize = (size: number) => {
  if (!Number.isInteger(size) || size < 1) throw new Error(`concurrency must be a positive integer, not ${size}`);
};

export function createLimiter(initial: number, now: () => number = Date.now): Limiter {
  checkSize(initial);
  let size = initial;
  let running = 0;
  let pausedUntil = 0;
  let timer: NodeJS.Timeout | undefined;
  // A queue with a moving head: shift() would copy the whole array each time, and a get of
  // 100k tags queues 100k requests at once.
  let waiting: (() => void)[] = [];
  let head = 0;
  const next = (): (() => void) | undefined => {
    if (head >= waiting.length) return undefined;
    const start = waiting[head];
    waiting[head++] = undefined as never;
    if (head > 1024 && head * 2 > waiting.length) {
      waiting = waiting.slice(head);
      head = 0;
    }
    return start;
  };
  /** Starts waiting tasks while there is room and no pause. */
  const drain = () => {
    const wait = pausedUntil - now();
    if (wait > 0) {
      // One timer for the whole pause; it drains again when it ends.
      timer ??= setTimeout(() => {
        timer = undefined;
        drain();
      }, wait);
      return;
    }
    while (running < size) {
      const start = next();
      if (!start) return;
      running++;
      start();
    }
  };
  return {
    active: () => running,
    size: () => size,
    resize(n: number) {
      checkSize(n);
      size = n;
      drain();
    },
    pauseUntil(at: number) {
      if (at <= pausedUntil) return;
      pausedUntil = at;
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      drain();
    },
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (running >= size || head < waiting.length || pausedUntil > now()) {
        await new Promise<void>((resolve) => {
          waiting.push(resolve);
          drain();
        });
      } else {
        running++;
      }
      try {
        return await task();
      } finally {
        running--;
        drain();
      }
    },
  };
}
