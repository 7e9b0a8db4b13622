import { createProgressLine, formatProgress, type GetProgress } from '../../src/cli/progress';
import { memoryLogger } from '../../src/log';

const p = (over: Partial<GetProgress> = {}): GetProgress => ({ repositoriesDone: 1, repositoriesTotal: 4, tagsDone: 30, tagsTotal: 50, requests: 20, ...over });

function tty(columns = 100) {
  const out: string[] = [];
  return { out, stream: { isTTY: true, columns, write: (t: string) => out.push(t) } };
}

describe('formatProgress', () => {
  it('says repositories and tags done and the request rate', () => {
    expect(formatProgress(p(), 4000, { color: false })).toBe('reading the registry: 1/4 repositories, 30/50 tags, 20 requests, 5.0 req/s');
    expect(formatProgress(p({ requests: 300 }), 2000, { color: false })).toContain("30/50 tags, 300 requests, 150 req/s");
  });

  it('never wraps: the line is cut to the terminal width', () => {
    const line = formatProgress(p(), 1000, { color: false, columns: 30 });
    expect(line.length).toBeLessThanOrEqual(29);
    expect(line.endsWith('…')).toBe(true);
  });

  it('colours only when asked', () => {
    expect(formatProgress(p(), 1000, { color: true })).toMatch(/^\x1b\[2m.*\x1b\[22m$/);
    expect(formatProgress(p(), 1000, { color: false })).not.toContain('\x1b');
  });
});

describe('createProgressLine', () => {
  it('is silent when stderr is not a terminal', () => {
    const out: string[] = [];
    const line = createProgressLine({ stream: { isTTY: false, write: (t) => out.push(t) }, env: {} });
    line.update(p());
    line.update(p({ repositoriesDone: 4 }));
    line.done();
    expect(out).toEqual([]);
  });

  it('redraws in place at most every interval, always draws completion, and erases itself at the end', () => {
    let clock = 0;
    const { out, stream } = tty();
    const line = createProgressLine({ stream, env: { NO_COLOR: '1' }, now: () => clock, minIntervalMs: 100 });
    line.update(p({ tagsDone: 1 }));
    clock = 50;
    line.update(p({ tagsDone: 2 })); // too soon: skipped
    clock = 200;
    line.update(p({ tagsDone: 3 }));
    clock = 210;
    line.update(p({ repositoriesDone: 4, tagsDone: 50 })); // complete: drawn despite the interval
    line.done();
    expect(out).toHaveLength(4);
    expect(out.slice(0, 3).every((t) => t.startsWith('\r\x1b[2K'))).toBe(true);
    expect(out[0]).toContain('1/50 tags');
    expect(out[1]).toContain('3/50 tags');
    expect(out[2]).toContain('4/4 repositories, 50/50 tags');
    expect(out[3]).toBe('\r\x1b[2K');
    expect(out.join('')).not.toContain('\x1b[2m'); // NO_COLOR
  });

  it('keeps log lines whole: erases the line before a log line and draws it again after', () => {
    const { out, stream } = tty();
    const line = createProgressLine({ stream, env: {}, now: () => 0 });
    const inner = memoryLogger();
    const logger = line.wrap(inner);
    line.update(p());
    const drawn = out.length;
    logger.warn('registry answered 429; retrying');
    expect(inner.lines).toEqual(['warning: registry answered 429; retrying']);
    expect(out[drawn]).toBe('\r\x1b[2K');
    expect(out[drawn + 1]).toContain('1/4 repositories');
    line.done();
    logger.info('after');
    expect(out).toHaveLength(drawn + 3); // done's erase only; nothing drawn after done
  });
});
