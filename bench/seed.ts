/**
 * Seeds the real registry with a fleet: `repos` repositories x `tagsPerRepo` tags, spread over
 * several environments (tag suffixes), each tag its own image with its own `created` date.
 *
 * Speed matters (6000 manifests): every image of a repository shares one layer (pushed once),
 * each tag gets only its own config blob (the date lives there) and its manifest, and pushes run
 * in parallel straight on the registry port, before any network delay applies.
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import { MEDIA, RunningRegistry, pushBlob, pushManifest, textLayer } from '../test/support/registry';

export interface FleetSpec {
  repos: number;
  tagsPerRepo: number;
  /** Tag suffixes, e.g. ['master', 'stage', 'develop']: tag i gets environments[i % n]. */
  environments: string[];
  /** The newest image's date; older tags go back in time from here. */
  newest: Date;
}

export interface SeededImage {
  repository: string;
  tag: string;
  environment: string;
  created: string;
}

/** Repository name of service number i (1-based), e.g. fleet/svc-07. */
export const repositoryName = (i: number) => `fleet/svc-${String(i).padStart(2, '0')}`;

/**
 * The images of the fleet, pure. Tag text order deliberately differs from date order (build
 * numbers restart per branch, and `1.10` sorts before `1.9` as text), so a tool that sorts tags by
 * name gets it wrong. Dates are about 8 hours apart, with a per-repository offset so services
 * are not released all at the same second.
 */
export function fleetImages(spec: FleetSpec): SeededImage[] {
  const out: SeededImage[] = [];
  for (let r = 1; r <= spec.repos; r++) {
    const repository = repositoryName(r);
    for (let i = 0; i < spec.tagsPerRepo; i++) {
      const environment = spec.environments[i % spec.environments.length];
      // Build numbers grow with time (the newest tag has the highest), per environment.
      const build = Math.floor((spec.tagsPerRepo - 1 - i) / spec.environments.length);
      const created = new Date(spec.newest.getTime() - i * 8 * 3600_000 - r * 60_000).toISOString();
      out.push({ repository, tag: `1.${build}.${r}-${environment}`, environment, created });
    }
  }
  return out;
}

/** Runs `work` over `items` with at most `limit` at once. */
export async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(lanes);
}

/**
 * Uploads a blob the registry does not have yet (two requests: POST for an upload session, then
 * a monolithic PUT with the digest) over a kept-alive connection. The fixture's pushBlob also asks
 * first whether the blob exists and opens a connection per request; for 6000 fresh config blobs
 * that doubles the seeding time. https://distribution.github.io/distribution/spec/api/#monolithic-upload
 */
async function uploadNewBlob(reg: RunningRegistry, agent: Agent, repository: string, data: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const start = await request(`${reg.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', dispatcher: agent });
  await start.body.dump();
  if (start.statusCode !== 202) throw new Error(`blob upload start for ${repository}: ${start.statusCode}`);
  const location = new URL(String(start.headers.location), reg.url);
  location.searchParams.set('digest', digest);
  const put = await request(location.toString(), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    body: data,
    dispatcher: agent,
  });
  await put.body.dump();
  if (put.statusCode !== 201) throw new Error(`blob upload for ${repository}: ${put.statusCode}`);
  return digest;
}

/** Pushes the fleet. Returns the images pushed. */
export async function seedFleet(reg: RunningRegistry, spec: FleetSpec, concurrency = 16): Promise<SeededImage[]> {
  const images = fleetImages(spec);
  const layers = new Map<string, { digest: string; size: number; diffId: string }>();
  for (let r = 1; r <= spec.repos; r++) {
    const repository = repositoryName(r);
    const layer = textLayer('service', `${repository}\n`);
    layers.set(repository, { digest: await pushBlob(reg, repository, layer.gz), size: layer.gz.length, diffId: layer.diffId });
  }
  const agent = new Agent({ connections: concurrency });
  try {
    await forEachLimited(images, concurrency, async (img) => {
      const layer = layers.get(img.repository)!;
      const config = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created: img.created,
          config: { Cmd: ['/bin/sh'], Labels: { tag: img.tag } },
          rootfs: { type: 'layers', diff_ids: [layer.diffId] },
          history: [{ created: img.created, created_by: 'bench seed' }],
        }),
      );
      const configDigest = await uploadNewBlob(reg, agent, img.repository, config);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.dockerManifest,
        config: { mediaType: MEDIA.dockerConfig, size: config.length, digest: configDigest },
        layers: [{ mediaType: MEDIA.dockerLayer, size: layer.size, digest: layer.digest }],
      });
      await pushManifest(reg, img.repository, img.tag, MEDIA.dockerManifest, manifest);
    });
  } finally {
    await agent.close();
  }
  return images;
}

/** What the catalog must say for one environment: per repository the newest `limit` tags. */
export function expectedNewest(images: SeededImage[], environment: string, limit: number): Map<string, SeededImage[]> {
  const by = new Map<string, SeededImage[]>();
  for (const img of images) {
    if (img.environment !== environment) continue;
    if (!by.has(img.repository)) by.set(img.repository, []);
    by.get(img.repository)!.push(img);
  }
  for (const list of by.values()) list.sort((a, b) => b.created.localeCompare(a.created)).splice(limit);
  return by;
}
