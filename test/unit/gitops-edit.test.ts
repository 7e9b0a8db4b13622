/** Image editing in YAML manifests: only the image values change, byte for byte. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { findImages, ManifestError, replaceImages } from '../../src/gitops/edit';
import { isImageOf, parseImageRef, sameImage } from '../../src/image/reference';

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
