/**
 * Pure editing of image references in the files a GitOps repository keeps (YAML, multi-document
 * YAML, JSON), in the three layouts teams use:
 *   - plain `image:` values (pod specs, Compose files);
 *   - Kustomize `images:` entries (`name`, `newName`, `newTag`, `digest`), matched by `name`;
 *     https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/images/
 *   - Helm values at per-service key paths (`values: { repository: image.repository, tag: image.tag }`).
 * The yaml Document API finds the nodes (in every document, through aliases to their anchors); each
 * new value is spliced into the original text at that node's source range, in its own quoting style,
 * and a key that must appear (Kustomize's `digest:`) is inserted as one line beside its sibling.
 * Everything else (comments, anchors, indentation, key order, other quoting) stays byte for byte.
 * https://eemeli.org/yaml/#documents and https://eemeli.org/yaml/#scalar-values
 *
 * It also reads Flux image automation markers (`# {"$imagepolicy": "ns:name"}`) on the lines it
 * would change: https://fluxcd.io/flux/guides/image-update/#configure-image-update-for-custom-resources
 */
import { Document, isAlias, isMap, isPair, isScalar, isSeq, parse, parseAllDocuments, Scalar, visit, YAMLMap } from 'yaml';
import { isImageOf, parseImageRef } from '../../image/reference';

export class ManifestError extends Error {}

/** Where a service's image lives in Helm values: dotted key paths (digest optional). */
export interface ValuesPaths {
  repository: string;
  tag: string;
  digest?: string;
}

/** What to look for: the service's registry repository, and its Helm value paths when it has them. */
export interface ImageSpec {
  repository: string;
  values?: ValuesPaths;
}

type Layout = 'image' | 'kustomize' | 'values';

interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/** One place in a file holding an image of the service. */
export interface ImageSite {
  layout: Layout;
  /** The image reference as the file reads now (Kustomize and Helm: composed from their keys). */
  image: string;
  /** 1-based line, for messages. */
  line: number;
  /** Offsets of the first node and the end of the last, to order sites (plain: the value itself). */
  start: number;
  end: number;
  /** A Flux `$imagepolicy` marker on one of the site's lines: the ImagePolicy's "namespace:name", and the marker's line. */
  imagePolicy?: { name: string; line: number };
  /** The text edits that put `image` there instead. */
  write(image: string): TextEdit[];
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function lineBounds(text: string, offset: number): [number, number] {
  const s = text.lastIndexOf('\n', offset - 1) + 1;
  const e = text.indexOf('\n', offset);
  return [s, e < 0 ? text.length : e];
}

const MARKER = /#\s*\{\s*"\$imagepolicy"\s*:\s*"([^"]+)"\s*\}/;

/** The Flux marker on the line of `offset`, as "namespace:name" (a ":tag"/":name" suffix dropped). */
function markerAt(text: string, offset: number): { name: string; line: number } | undefined {
  const [s, e] = lineBounds(text, offset);
  const m = MARKER.exec(text.slice(s, e));
  return m ? { name: m[1].split(':').slice(0, 2).join(':'), line: lineAt(text, offset) } : undefined;
}

/** The value as source text in the scalar's own style; a plain scalar that would not read back as this string is double-quoted. */
function render(value: string, type: Scalar['type']): string {
  switch (type) {
    case 'QUOTE_DOUBLE':
      return JSON.stringify(value);
    case 'QUOTE_SINGLE':
      return `'${value.replace(/'/g, "''")}'`;
    default: {
      // A tag like 1.10 or 0x1 must stay a string (Helm and Kustomize would read a number).
      let back: unknown;
      try {
        back = parse(value);
      } catch {
        back = undefined;
      }
      return back === value ? value : JSON.stringify(value);
    }
  }
}

function scalarString(node: unknown, doc: Document): Scalar | undefined {
  const n = isAlias(node) ? node.resolve(doc) : node;
  if (!isScalar(n) || n.value === null || typeof n.value === 'object' || !n.range) return undefined;
  return n;
}

function checkScalar(text: string, node: Scalar, what: string): void {
  if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') {
    throw new ManifestError(`line ${lineAt(text, node.range![0])} holds ${what} as a block scalar (| or >), which this tool does not rewrite`);
  }
}

function replaceScalar(node: Scalar, value: string): TextEdit {
  return { start: node.range![0], end: node.range![1], text: render(value, node.type) };
}

/** A new `key: value` beside the pair `after` of `map`: a line below it (block map) or `, key: value` (flow map, JSON). */
function insertPair(text: string, map: YAMLMap, after: { key: Scalar; value: Scalar }, key: string, value: string): TextEdit {
  const end = after.value.range![1];
  if (map.flow) {
    const json = after.key.type === 'QUOTE_DOUBLE';
    return { start: end, end, text: json ? `, ${JSON.stringify(key)}: ${JSON.stringify(value)}` : `, ${key}: ${render(value, 'PLAIN')}` };
  }
  const [lineStart] = lineBounds(text, after.key.range![0]);
  const column = after.key.range![0] - lineStart;
  const [, lineEnd] = lineBounds(text, end);
  return { start: lineEnd, end: lineEnd, text: `\n${' '.repeat(column)}${key}: ${render(value, 'PLAIN')}` };
}

/** Removes the pair whose key is `key` (the reverse of insertPair): its line, or `, key: value`. */
function removePair(text: string, map: YAMLMap, key: Scalar, value: Scalar): TextEdit {
  if (map.flow) {
    const comma = text.lastIndexOf(',', key.range![0]);
    return { start: comma, end: value.range![1], text: '' };
  }
  const [lineStart] = lineBounds(text, key.range![0]);
  const [, lineEnd] = lineBounds(text, value.range![1]);
  if (text.slice(lineStart, key.range![0]).trim() !== '') {
    throw new ManifestError(`line ${lineAt(text, key.range![0])}: the ${String(key.value)} key shares its line with another, which this tool does not remove`);
  }
  return { start: lineStart - 1, end: lineEnd, text: '' };
}

function pairOf(map: YAMLMap, key: string, doc: Document): { key: Scalar; value: Scalar } | undefined {
  for (const p of map.items) {
    if (isScalar(p.key) && p.key.value === key) {
      const v = scalarString(p.value, doc);
      return v ? { key: p.key, value: v } : undefined;
    }
  }
  return undefined;
}

function compose(name: string, tag?: string, digest?: string): string {
  return `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
}

/** Sites of plain `image:` values. */
function imageSites(text: string, doc: Document, spec: ImageSpec, host: string | undefined, out: ImageSite[]): void {
  visit(doc, {
    Pair(_key, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || pair.key.value !== 'image') return;
      // `image: *ref` changes the anchored scalar it points to (and so every alias of it).
      const node = scalarString(pair.value, doc);
      if (!node || typeof node.value !== 'string' || !isImageOf(node.value, spec.repository, host)) return;
      checkScalar(text, node, 'the image');
      out.push({
        layout: 'image', image: node.value, line: lineAt(text, node.range![0]), start: node.range![0], end: node.range![1], imagePolicy: markerAt(text, node.range![0]),
        write: (image) => [replaceScalar(node, image)],
      });
    },
  });
}

/** Sites of Kustomize `images:` entries whose `name` is the service's image. */
function kustomizeSites(text: string, doc: Document, spec: ImageSpec, host: string | undefined, out: ImageSite[]): void {
  visit(doc, {
    Pair(_key, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || pair.key.value !== 'images' || !isSeq(pair.value)) return;
      for (const item of pair.value.items) {
        if (!isMap(item)) continue;
        const entry = item;
        const name = pairOf(entry, 'name', doc);
        if (!name || typeof name.value.value !== 'string' || !isImageOf(name.value.value, spec.repository, host)) continue;
        const newName = pairOf(entry, 'newName', doc);
        const newTag = pairOf(entry, 'newTag', doc);
        const digest = pairOf(entry, 'digest', doc);
        for (const p of [name, newName, newTag, digest]) if (p) checkScalar(text, p.value, 'an images entry');
        const shown = newName ? String(newName.value.value) : String(name.value.value);
        // newName is kept as it is: it must name the same repository, or what runs would not be what was approved.
        if (newName && !isImageOf(shown, spec.repository, host)) {
          throw new ManifestError(`line ${lineAt(text, newName.value.range![0])}: the images entry ${name.value.value} has newName ${shown}, another repository than ${spec.repository}`);
        }
        const lines = [name, newName, newTag, digest].filter((p) => p).map((p) => p!.value.range![0]);
        out.push({
          layout: 'kustomize',
          image: compose(shown, newTag ? String(newTag.value.value) : undefined, digest ? String(digest.value.value) : undefined),
          line: lineAt(text, name.key.range![0]),
          start: name.key.range![0],
          end: Math.max(...lines),
          imagePolicy: lines.map((o) => markerAt(text, o)).find((m) => m),
          write(image) {
            const ref = parseImageRef(image);
            const edits: TextEdit[] = [];
            const anchor = newName ?? name;
            if (newTag && ref.tag) edits.push(replaceScalar(newTag.value, ref.tag));
            else if (newTag && !ref.tag) edits.push(removePair(text, entry, newTag.key, newTag.value));
            else if (ref.tag) edits.push(insertPair(text, entry, anchor, 'newTag', ref.tag));
            if (digest && ref.digest) edits.push(replaceScalar(digest.value, ref.digest));
            else if (digest && !ref.digest) edits.push(removePair(text, entry, digest.key, digest.value));
            else if (ref.digest) {
              // Inserted below newTag when it is there (or was just written below the anchor).
              if (newTag) edits.push(insertPair(text, entry, newTag, 'digest', ref.digest));
              else {
                const at = insertPair(text, entry, anchor, 'digest', ref.digest);
                const tagEdit = edits.find((e) => e.start === at.start && e.end === at.end);
                if (tagEdit) tagEdit.text += at.text;
                else edits.push(at);
              }
            }
            return edits;
          },
        });
      }
    },
  });
}

function getPath(doc: Document, path: string): { parent: YAMLMap; key: string; node?: Scalar } | undefined {
  const keys = path.split('.');
  let cur: unknown = doc.contents;
  for (const k of keys.slice(0, -1)) {
    if (isAlias(cur)) cur = cur.resolve(doc);
    if (!isMap(cur)) return undefined;
    cur = cur.get(k, true);
  }
  if (isAlias(cur)) cur = cur.resolve(doc);
  if (!isMap(cur)) return undefined;
  const last = keys[keys.length - 1];
  return { parent: cur, key: last, node: scalarString(cur.get(last, true), doc) };
}

/** The Helm values site at the service's key paths, when its repository value is the service's. */
function valuesSites(text: string, doc: Document, spec: ImageSpec, host: string | undefined, out: ImageSite[]): void {
  const v = spec.values!;
  const repo = getPath(doc, v.repository);
  if (!repo?.node || typeof repo.node.value !== 'string' || !isImageOf(repo.node.value, spec.repository, host)) return;
  const tag = getPath(doc, v.tag);
  if (!tag?.node) throw new ManifestError(`line ${lineAt(text, repo.node.range![0])}: ${v.repository} is ${repo.node.value} but there is no ${v.tag} beside it`);
  const digest = v.digest ? getPath(doc, v.digest) : undefined;
  if (v.digest && !digest) throw new ManifestError(`there is no map to hold ${v.digest}`);
  const tagNode = tag.node;
  const digestNode = digest?.node && String(digest.node.value) !== '' ? digest.node : undefined;
  for (const n of [repo.node, tagNode, digest?.node]) if (n) checkScalar(text, n, 'the image');
  const sameMap = digest && digest.parent === tag.parent;
  out.push({
    layout: 'values',
    image: compose(repo.node.value, String(tagNode.value), digestNode ? String(digestNode.value) : undefined),
    line: lineAt(text, repo.node.range![0]),
    start: repo.node.range![0],
    end: Math.max(repo.node.range![1], tagNode.range![1]),
    imagePolicy: [repo.node, tagNode, digest?.node].filter((n) => n).map((n) => markerAt(text, n!.range![0])).find((m) => m),
    write(image) {
      const ref = parseImageRef(image);
      const edits: TextEdit[] = [replaceScalar(tagNode, ref.tag ?? 'latest')];
      if (!digest) {
        if (ref.digest) throw new ManifestError(`${v.repository} has no digest key (values.digest) to pin ${image}`);
        return edits;
      }
      if (digest.node) edits.push(replaceScalar(digest.node, ref.digest ?? ''));
      else if (ref.digest) {
        if (!sameMap) throw new ManifestError(`there is no ${v.digest} key, and it is not beside ${v.tag}`);
        const tagKey = tag.parent.items.find((p) => isScalar(p.key) && p.key.value === tag.key)!.key as Scalar;
        edits.push(insertPair(text, tag.parent, { key: tagKey, value: tagNode }, digest.key, ref.digest));
      }
      return edits;
    },
  });
}

function parseDocs(text: string) {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      throw new ManifestError(`line ${lineAt(text, e.pos[0])} is not valid YAML or JSON (${e.message.split('\n')[0]})`);
    }
  }
  return docs;
}

/**
 * Every place in the text holding an image of the service: with `values` paths, those (Helm);
 * otherwise plain `image:` values and Kustomize `images:` entries.
 */
export function findSites(text: string, spec: ImageSpec, host?: string): ImageSite[] {
  const out: ImageSite[] = [];
  for (const doc of parseDocs(text)) {
    if (spec.values) valuesSites(text, doc, spec, host, out);
    else {
      imageSites(text, doc, spec, host, out);
      kustomizeSites(text, doc, spec, host, out);
    }
  }
  // An anchored image seen through several aliases is one site.
  const byStart = new Map(out.map((s) => [s.start, s]));
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

/** Every `image:` value of `repository` (plain layout only): kept for callers that know only that layout. */
export function findImages(text: string, repository: string, host?: string): ImageSite[] {
  return findSites(text, { repository }, host).filter((s) => s.layout === 'image');
}

export interface Replacement extends ImageSpec {
  image: string;
}

export interface EditResult {
  text: string;
  /** One entry per site changed. */
  changed: { repository: string; from: string; to: string; line: number; layout: Layout }[];
  /** Repositories with no image in this text. */
  missing: string[];
}

/** Same repository path, tag and digest (and host when both name one): Kustomize and Helm sites may spell the name without the host. */
export function sameReference(a: string, b: string): boolean {
  const x = parseImageRef(a);
  const y = parseImageRef(b);
  const path = (p: string) => p.replace(/^library\//, '');
  return path(x.path) === path(y.path) && x.tag === y.tag && x.digest === y.digest && (!x.host || !y.host || x.host === y.host);
}

/** Puts each service's image in every site holding it; a site already there stays (and is not "changed"). */
export function replaceImages(text: string, replacements: Replacement[], host?: string): EditResult {
  const edits: TextEdit[] = [];
  const missing: string[] = [];
  const changed: EditResult['changed'] = [];
  for (const r of replacements) {
    const sites = findSites(text, r, host);
    if (sites.length === 0) missing.push(r.repository);
    for (const site of sites) {
      if (sameReference(site.image, r.image)) continue;
      edits.push(...site.write(r.image));
      changed.push({ repository: r.repository, from: site.image, to: r.image, line: site.line, layout: site.layout });
    }
  }
  // From the end backwards, so earlier offsets stay valid.
  edits.sort((a, b) => b.start - a.start || b.end - a.end);
  for (let i = 1; i < edits.length; i++) {
    if (edits[i].end > edits[i - 1].start) throw new ManifestError('two services would change the same place in the file');
  }
  let out = text;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  // Belt and braces: the edited text must read back with the new values where the old ones were.
  for (const r of replacements) {
    const after = findSites(out, r, host);
    const wrong = after.find((s) => !sameReference(s.image, r.image));
    if (wrong) throw new ManifestError(`rewriting the image of ${r.repository} did not read back as ${r.image} (line ${wrong.line} reads ${wrong.image})`);
  }
  return { text: out, changed: changed.sort((a, b) => a.line - b.line), missing };
}
