/**
 * Pure editing of image references in YAML manifests. The yaml Document API finds every
 * `image:` scalar (in every document of a multi-document file, through aliases to their
 * anchors); the new value is spliced into the original text at that scalar's source range, in
 * the scalar's own quoting style. Everything else (comments, anchors, indentation, key order,
 * other quoting) stays byte for byte as it was, by construction.
 * https://eemeli.org/yaml/#documents and https://eemeli.org/yaml/#scalar-values
 */
import { isAlias, isPair, isScalar, parseAllDocuments, Scalar, visit } from 'yaml';
import { isImageOf } from '../image/reference';

export interface ImageSite {
  /** The image reference as the manifest reads now. */
  image: string;
  /** 1-based line of the scalar, for messages. */
  line: number;
  start: number;
  end: number;
  type: Scalar['type'];
}

export class ManifestError extends Error {}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Every `image:` value in the text that is an image of `repository` (with or without `host`). */
export function findImages(text: string, repository: string, host?: string): ImageSite[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  const sites = new Map<number, ImageSite>();
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      throw new ManifestError(`line ${lineAt(text, e.pos[0])} is not valid YAML (${e.message.split('\n')[0]})`);
    }
    visit(doc, {
      Pair(_key, pair) {
        if (!isPair(pair) || !isScalar(pair.key) || pair.key.value !== 'image') return;
        // `image: *ref` changes the anchored scalar it points to (and so every alias of it).
        const node = isAlias(pair.value) ? pair.value.resolve(doc) : pair.value;
        if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return;
        if (!isImageOf(node.value, repository, host)) return;
        if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') {
          throw new ManifestError(`line ${lineAt(text, node.range[0])} holds the image as a block scalar (| or >), which this tool does not rewrite`);
        }
        sites.set(node.range[0], { image: node.value, line: lineAt(text, node.range[0]), start: node.range[0], end: node.range[1], type: node.type });
      },
    });
  }
  return [...sites.values()].sort((a, b) => a.start - b.start);
}

/** The value as source text in the scalar's own style. */
function render(value: string, type: Scalar['type']): string {
  switch (type) {
    case 'QUOTE_DOUBLE':
      return JSON.stringify(value);
    case 'QUOTE_SINGLE':
      return `'${value.replace(/'/g, "''")}'`;
    default:
      // An image reference never needs quotes in plain style: no ': ', ' #', or leading indicator.
      return value;
  }
}

export interface Replacement {
  repository: string;
  image: string;
}

export interface EditResult {
  text: string;
  /** One entry per scalar changed. */
  changed: { repository: string; from: string; to: string; line: number }[];
  /** Repositories with no image in this text. */
  missing: string[];
}

/** Replaces the images of each repository; a value already equal stays (and is not "changed"). */
export function replaceImages(text: string, replacements: Replacement[], host?: string): EditResult {
  const edits: { site: ImageSite; repository: string; to: string }[] = [];
  const missing: string[] = [];
  for (const r of replacements) {
    const sites = findImages(text, r.repository, host);
    if (sites.length === 0) missing.push(r.repository);
    for (const site of sites) edits.push({ site, repository: r.repository, to: r.image });
  }
  let out = text;
  const changed: EditResult['changed'] = [];
  // From the end backwards, so earlier offsets stay valid.
  for (const e of edits.sort((a, b) => b.site.start - a.site.start)) {
    if (e.site.image === e.to) continue;
    out = out.slice(0, e.site.start) + render(e.to, e.site.type) + out.slice(e.site.end);
    changed.push({ repository: e.repository, from: e.site.image, to: e.to, line: e.site.line });
  }
  // Belt and braces: the edited text must read back with the new values where the old ones were.
  for (const r of replacements) {
    const after = findImages(out, r.repository, host);
    if (after.some((s) => s.image !== r.image)) {
      throw new ManifestError(`rewriting the image of ${r.repository} did not read back as ${r.image}`);
    }
  }
  return { text: out, changed: changed.reverse(), missing };
}
