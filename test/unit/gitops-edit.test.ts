/** Image editing in YAML manifests: only the image values change, byte for byte. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { findImages, findSites, ManifestError, replaceImages } from '../../src/targets/gitops/edit';
import { isImageOf, parseImageRef, sameImage } from '../../src/image/reference';
import { swapped } from '../support/gitops';

const corpus = (name: string) => readFileSync(join(__dirname, '../fixtures/manifests', name), 'utf8');
const HOST = 'registry.example.com';
const API = `${HOST}/shop/api:39-prod@sha256:${'a'.repeat(64)}`;
const WEB = `${HOST}/shop/web:5-prod@sha256:${'b'.repeat(64)}`;

/** The text with every image value of these repositories cut out: what must not change. */
function skeleton(text: string, repositories: string[]): string {
  const sites = repositories.flatMap((r) => findImages(text, r, HOST)).sort((a, b) => b.start - a.start);
  let out = text;
  for (const s of sites) out = out.slice(0, s.start) + '<IMAGE>' + out.slice(s.end);
  return out;
}

test.each(['deployments.yaml', 'compose.yml'])('%s: only the image values differ after an edit', (file) => {
  const before = corpus(file);
  const { text, changed } = replaceImages(before, [{ repository: 'shop/api', image: API }, { repository: 'shop/web', image: WEB }], HOST);
  expect(text).not.toBe(before);
  expect(changed.length).toBeGreaterThan(0);
  expect(skeleton(text, ['shop/api', 'shop/web'])).toBe(skeleton(before, ['shop/api', 'shop/web']));
  for (const s of findImages(text, 'shop/api', HOST)) expect(s.image).toBe(API);
  for (const s of findImages(text, 'shop/web', HOST)) expect(s.image).toBe(WEB);
});

test('multi-document file: every container and document, quoting kept, others untouched', () => {
  const before = corpus('deployments.yaml');
  const { text, changed, missing } = replaceImages(before, [{ repository: 'shop/api', image: API }, { repository: 'shop/web', image: WEB }], HOST);
  expect(missing).toEqual([]);
  expect(changed.map((c) => [c.repository, c.line])).toEqual([['shop/api', 16], ['shop/api', 20], ['shop/web', 31], ['shop/api', 43]]);
  expect(text).toContain(`          image: ${API}    # bumped by CI\n`);
  expect(text).toContain(`        image: "${API}"\n`);
  expect(text).toContain(`        image: '${WEB}'\n`);
  expect(text).toContain('image: envoyproxy/envoy:v1.30.1   # sidecar, not ours');
  expect(text).toContain("value: 'it''s fine'");
});

test('anchors: the anchored value changes once, its aliases follow, the anchor stays', () => {
  const before = corpus('compose.yml');
  const { text, changed } = replaceImages(before, [{ repository: 'shop/api', image: API }], HOST);
  expect(changed).toHaveLength(1);
  expect(text).toContain(`x-api-image: &api-image ${API}\n`);
  expect(text.match(/image: \*api-image/g)).toHaveLength(2);
  expect(text).toContain('image: postgres:16');
});

test('a file without the service image reports it missing and is unchanged', () => {
  const before = corpus('values.yaml');
  const r = replaceImages(before, [{ repository: 'shop/api', image: API }], HOST);
  expect(r).toEqual({ text: before, changed: [], missing: ['shop/api'] });
});

test('an image already in place is not a change', () => {
  const once = replaceImages(corpus('compose.yml'), [{ repository: 'shop/api', image: API }], HOST).text;
  expect(replaceImages(once, [{ repository: 'shop/api', image: API }], HOST).changed).toEqual([]);
});

test('broken YAML and block scalars are refused with the line', () => {
  expect(() => findImages('a: [1\nimage: x\n', 'x')).toThrow(ManifestError);
  expect(() => findImages('a: 1\nimage: |\n  shop/api:1\n', 'shop/api')).toThrow(/line 2 holds the image as a block scalar/);
});

test('image references: host, port, tag, digest; matching with or without the host', () => {
  expect(parseImageRef('localhost:5000/shop/api:1@sha256:ab')).toEqual({ host: 'localhost:5000', path: 'shop/api', tag: '1', digest: 'sha256:ab' });
  expect(parseImageRef('shop/api')).toEqual({ host: undefined, path: 'shop/api', tag: undefined, digest: undefined });
  expect(isImageOf('shop/api:1', 'shop/api', HOST)).toBe(true);
  expect(isImageOf(`${HOST}/shop/api:1`, 'shop/api', HOST)).toBe(true);
  expect(isImageOf('other.io/shop/api:1', 'shop/api', HOST)).toBe(false);
  expect(isImageOf('shop/api-v2:1', 'shop/api', HOST)).toBe(false);
  expect(sameImage(`a/b:1@sha256:${'c'.repeat(64)}`, `a/b:2@sha256:${'c'.repeat(64)}`)).toBe(true);
  expect(sameImage('a/b:1', 'a/b:2')).toBe(false);
});

test('property: any tag and digest round-trips in every quoting style and the rest stays', () => {
  const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
  const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
  fc.assert(
    fc.property(tag, hex, fc.constantFrom('', '"', "'"), (t, h, q) => {
      const before = `# c\nspec:\n  image: ${q}${HOST}/shop/api:old${q}  # keep\n  other: x\n`;
      const image = `${HOST}/shop/api:${t}@sha256:${h}`;
      const { text } = replaceImages(before, [{ repository: 'shop/api', image }], HOST);
      expect(findImages(text, 'shop/api', HOST).map((s) => s.image)).toEqual([image]);
      expect(skeleton(text, ['shop/api'])).toBe(skeleton(before, ['shop/api']));
    }),
    { numRuns: 100 },
  );
});

// --- Kustomize images:, Helm values, JSON: every other byte kept, checked against the fixture with only the image values swapped.
const D = (c: string) => `sha256:${c.repeat(64)}`;

test('Kustomize images: newTag and digest written, digest: added inside the entry, newName and everything else kept', () => {
  const before = corpus('kustomization.yaml');
  const r = replaceImages(before, [
    { repository: 'shop/api', image: `${HOST}/shop/api:38-prod@${D('3')}` },
    { repository: 'shop/web', image: `${HOST}/shop/web:4-prod@${D('4')}` },
    { repository: 'shop/worker', image: `${HOST}/shop/worker:6-prod@${D('5')}` },
  ], HOST);
  expect(r.missing).toEqual([]);
  expect(r.text).toBe(swapped(before, [
    ['newTag: 39-prod     # keep', 'newTag: 38-prod     # keep'],
    [`digest: ${D('1')}`, `digest: ${D('3')}`],
    ['    newTag: "5-prod"\n', `    newTag: "4-prod"\n    digest: ${D('4')}\n`],
    ["{name: shop/worker, newTag: '7-prod'}", `{name: shop/worker, newTag: '6-prod', digest: ${D('5')}}`],
  ]));
  // Read back as the images the cluster will run; newName stays the image's name.
  expect(findSites(r.text, { repository: 'shop/web' }, HOST).map((s) => s.image)).toEqual([`${HOST}/shop/web:4-prod@${D('4')}`]);
  // Putting back the tag-only image removes the digest line again: the file is what it was.
  const back = replaceImages(r.text, [
    { repository: 'shop/api', image: `${HOST}/shop/api:39-prod@${D('1')}` },
    { repository: 'shop/web', image: 'registry.example.com/shop/web:5-prod' },
    { repository: 'shop/worker', image: 'shop/worker:7-prod' },
  ], HOST);
  expect(back.text).toBe(before);
});

test('Kustomize: matched exactly by name with or without the host; a newName of another repository is refused', () => {
  const k = 'images:\n- name: shop/api-canary\n  newTag: "1"\n- name: other.io/shop/api\n  newTag: "2"\n';
  expect(findSites(k, { repository: 'shop/api' }, HOST)).toEqual([]);
  expect(() => findSites('images:\n- name: shop/api\n  newName: shop/api-fork\n', { repository: 'shop/api' }, HOST)).toThrow(/newName shop\/api-fork, another repository than shop\/api/);
});

test('Kustomize JSON: the digest is added as JSON, the file stays JSON and every other byte is kept', () => {
  const before = corpus('kustomization.json');
  const r = replaceImages(before, [{ repository: 'shop/api', image: `${HOST}/shop/api:38-prod@${D('3')}` }], HOST);
  expect(r.text).toBe(swapped(before, [['{"name": "shop/api", "newTag": "39-prod"}', `{"name": "shop/api", "newTag": "38-prod", "digest": "${D('3')}"}`]]));
  expect(JSON.parse(r.text).images[0]).toEqual({ name: 'shop/api', newTag: '38-prod', digest: D('3') });
});

test('plain image: in a JSON manifest keeps the JSON quoting', () => {
  const before = corpus('deployment.json');
  const r = replaceImages(before, [{ repository: 'shop/api', image: API }], HOST);
  expect(r.text).toBe(swapped(before, [['"registry.example.com/shop/api:39-prod"', JSON.stringify(API)]]));
  expect(() => JSON.parse(r.text)).not.toThrow();
});

test('Helm values at per-service key paths: tag and digest written in their own style, a missing digest added', () => {
  const before = corpus('helm-values.yaml');
  const paths = (s: string) => ({ repository: `${s}.image.repository`, tag: `${s}.image.tag`, digest: `${s}.image.digest` });
  const r = replaceImages(before, [
    { repository: 'shop/api', values: paths('api'), image: `${HOST}/shop/api:1.10@${D('3')}` },
    { repository: 'shop/web', values: paths('web'), image: `${HOST}/shop/web:4-prod@${D('4')}` },
    { repository: 'shop/worker', values: paths('worker'), image: `${HOST}/shop/worker:6-prod@${D('5')}` },
  ], HOST);
  expect(r.missing).toEqual([]);
  expect(r.text).toBe(swapped(before, [
    ['    tag: "39-prod"\n', `    tag: "1.10"\n    digest: ${D('3')}\n`],
    ["tag: 5-prod, digest: ''", `tag: 4-prod, digest: '${D('4')}'`],
    ['tag: 7-prod\n', 'tag: 6-prod\n'],
    [`digest: ${D('2')}`, `digest: ${D('5')}`],
  ]));
  expect(findSites(r.text, { repository: 'shop/api', values: paths('api') }, HOST).map((s) => s.image)).toEqual([`${HOST}/shop/api:1.10@${D('3')}`]);
  // A plain tag that would read as a number is quoted, so Helm still sees the string.
  const plain = replaceImages('image:\n  repository: shop/api\n  tag: 39-prod\n', [{ repository: 'shop/api', values: { repository: 'image.repository', tag: 'image.tag' }, image: 'shop/api:1.10' }], HOST);
  expect(plain.text).toBe('image:\n  repository: shop/api\n  tag: "1.10"\n');
  // Key paths that hold another repository: the service is missing from this file.
  expect(replaceImages(before, [{ repository: 'shop/api', values: paths('web'), image: API }], HOST).missing).toEqual(['shop/api']);
});

test('Flux $imagepolicy markers are read on the lines of the image, in every layout', () => {
  const plain = 'spec:\n  image: shop/api:1 # {"$imagepolicy": "flux-system:api"}\n  other: shop/web:1 # {"$imagepolicy": "flux-system:web"}\n';
  expect(findSites(plain, { repository: 'shop/api' }, HOST)[0].imagePolicy).toEqual({ name: 'flux-system:api', line: 2 });
  const kust = 'images:\n- name: shop/api\n  newTag: "1" # {"$imagepolicy": "apps:api-policy:tag"}\n- name: shop/web\n  newTag: "2"\n';
  expect(findSites(kust, { repository: 'shop/api' }, HOST)[0].imagePolicy).toEqual({ name: 'apps:api-policy', line: 3 });
  expect(findSites(kust, { repository: 'shop/web' }, HOST)[0].imagePolicy).toBeUndefined();
  const values = 'image:\n  repository: shop/api # {"$imagepolicy": "flux-system:api:name"}\n  tag: "1" # {"$imagepolicy": "flux-system:api:tag"}\n';
  expect(findSites(values, { repository: 'shop/api', values: { repository: 'image.repository', tag: 'image.tag' } }, HOST)[0].imagePolicy).toEqual({ name: 'flux-system:api', line: 2 });
});
