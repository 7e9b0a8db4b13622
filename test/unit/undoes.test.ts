/** Provenance labels and annotations, source URLs, compare links and the words of `undoes`: pure, tables. */
import { mergeProvenance, parseManifest, provenanceOf, readImageConfig } from '../../src/registry/manifest';
import { describePlan } from '../../src/cli/commands/select';
import { compareLink, sourceRepo, undoesLines, undoesSummary, withUndoes } from '../../src/plan/undoes';

describe('provenance from labels and annotations', () => {
  it('OCI keys win over Label Schema ones; blank values do not count', () => {
    expect(provenanceOf({ 'org.opencontainers.image.revision': 'abc1234', 'org.label-schema.vcs-ref': 'old', 'org.opencontainers.image.source': ' ', 'org.label-schema.vcs-url': 'https://github.com/o/r' }))
      .toEqual({ revision: 'abc1234', source: 'https://github.com/o/r' });
    expect(provenanceOf({ 'org.opencontainers.image.created': '2026-01-01' })).toBeUndefined();
    expect(provenanceOf(readImageConfig({ config: { Labels: { 'org.label-schema.vcs-ref': 'f00' } } }).labels)).toEqual({ revision: 'f00' });
  });
  it('manifest annotations fill what the config labels lack, field by field', () => {
    const parsed = parseManifest({ schemaVersion: 2, config: { digest: 'sha256:' + 'a'.repeat(64) }, annotations: { 'org.opencontainers.image.revision': 'ann', 'org.opencontainers.image.source': 'https://gitlab.com/g/p' } }, 'application/vnd.oci.image.manifest.v1+json');
    expect(parsed.kind === 'image' && parsed.provenance).toEqual({ revision: 'ann', source: 'https://gitlab.com/g/p' });
    expect(mergeProvenance({ revision: 'label' }, parsed.kind === 'image' ? parsed.provenance : undefined)).toEqual({ revision: 'label', source: 'https://gitlab.com/g/p' });
    expect(mergeProvenance(undefined, undefined)).toBeUndefined();
  });
});

describe('sourceRepo and compareLink', () => {
  const hints = { githubApiUrl: 'https://ghe.example.com/api/v3', gitlabUrls: ['https://git.example.com/gitlab'] };
  it.each([
    ['https://github.com/o/r', { kind: 'github', web: 'https://github.com', path: 'o/r' }],
    ['https://github.com/o/r.git', { kind: 'github', web: 'https://github.com', path: 'o/r' }],
    ['git@github.com:o/r.git', { kind: 'github', web: 'https://github.com', path: 'o/r' }],
    ['git+https://github.com/o/r/tree/main', { kind: 'github', web: 'https://github.com', path: 'o/r' }],
    ['https://ghe.example.com/o/r', { kind: 'github', web: 'https://ghe.example.com', path: 'o/r' }],
    ['https://gitlab.com/g/sub/p/-/tree/main', { kind: 'gitlab', web: 'https://gitlab.com', path: 'g/sub/p' }],
    ['https://git.example.com/gitlab/g/p.git', { kind: 'gitlab', web: 'https://git.example.com/gitlab', path: 'g/p' }],
    ['https://bitbucket.org/o/r', undefined],
    ['not a url', undefined],
    ['https://github.com/o', undefined],
  ])('%s', (source, want) => {
    expect(sourceRepo(source, hints)).toEqual(want);
  });
  it('the link lists what the current revision has and the target lacks (target...current)', () => {
    expect(compareLink({ kind: 'github', web: 'https://github.com', path: 'o/r' }, 'aaa', 'bbb')).toBe('https://github.com/o/r/compare/aaa...bbb');
    expect(compareLink({ kind: 'gitlab', web: 'https://git.example.com/gitlab', path: 'g/p' }, 'aaa', 'bbb')).toBe('https://git.example.com/gitlab/g/p/-/compare/aaa...bbb');
  });
});

describe('words', () => {
  const commits = [1, 2, 3, 4].map((n) => ({ sha: `${n}`.repeat(40), title: `change ${n}` }));
  it('summary: count, the newest titles, how many more', () => {
    expect(undoesSummary({ count: 4, commits })).toBe('takes away 4 commits: change 1; change 2; change 3; and 1 more');
    expect(undoesSummary({ count: 1, commits: commits.slice(0, 1) })).toBe('takes away 1 commit: change 1');
    expect(undoesSummary({ count: 0, commits: [] })).toBe('takes away no commits');
    expect(undoesSummary({ unavailable: 'no GitHub token' })).toBe('commit list unavailable: no GitHub token');
  });
  it('lines: the forward warning first, then the revisions', () => {
    expect(undoesLines('api', { from: 'b'.repeat(40), to: 'a'.repeat(40), forward: 'api moves FORWARD.', unavailable: 'x' })).toEqual(['warning: api moves FORWARD.', 'api: bbbbbbb -> aaaaaaa', '  commit list unavailable: x.']);
  });
});

describe('withUndoes', () => {
  const table = 'SERVICE ...\napi ...\nweb ...\n2 of 2 services change for prod on 2026-11-18.\n';
  it('puts the lines above the summary, which stays last', () => {
    const out = withUndoes(table, [{ service: 'api', action: 'change', undoes: { from: 'b', to: 'a', count: 0, commits: [] } }, { service: 'web', action: 'change', undoes: { unavailable: 'x' } }]);
    expect(out.split('\n').slice(-5)).toEqual(['api: b -> a', '  takes away no commits.', 'web: neither image says which commit it was built from (no org.opencontainers.image.revision or org.label-schema.vcs-ref label), so what it takes away is unknown.', '2 of 2 services change for prod on 2026-11-18.', '']);
  });
  it('a fleet whose changing images carry no labels keeps its table as it was', () => {
    expect(withUndoes(table, [{ service: 'api', action: 'change', undoes: { unavailable: 'x' } }, { service: 'web', action: 'skip' }])).toBe(table);
    // The Jenkins question (compact) stays as it was for a fleet without labels.
    expect(withUndoes(table, [{ service: 'api', action: 'change', undoes: { unavailable: 'x' } }], true)).toBe(table);
  });
});

describe('the terminal select (describePlan)', () => {
  it('a changing service with revisions gets what it takes away under its line; one without labels nothing', () => {
    const item = describePlan('2026-11-18', [
      { service: 'api', current: 'r/shop/api:2-prod', target: 'r/shop/api:1-prod@sha256:' + 'a'.repeat(64), day: '2026-11-18', action: 'change', reason: '', undoes: { from: 'b'.repeat(40), to: 'a'.repeat(40), count: 2, commits: [{ sha: 'b'.repeat(40), title: 'Fix login' }, { sha: 'c'.repeat(40), title: 'Add cart' }] } },
      { service: 'db', current: 'r/shop/db:2-prod', target: 'r/shop/db:1-prod@sha256:' + 'b'.repeat(64), day: '2026-11-18', action: 'change', reason: '', undoes: { unavailable: 'neither image says' } },
    ]);
    expect(item.detail).toEqual(['Plan for 2026-11-18:', 'api  2-prod -> 1-prod  (built 2026-11-18)', '     takes away 2 commits: Fix login; Add cart', 'db   2-prod -> 1-prod  (built 2026-11-18)']);
  });
});
