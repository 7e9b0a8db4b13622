/**
 * The demo's throwaway world, all on loopback: a registry seeded with the story's images (the real
 * docker-registry when installed, else the project's registry double), the Marathon double running
 * the fleet at its newest prod images (and stage apps that must stay untouched), the Slack double,
 * and a work folder holding rollback.yml. close() takes it all down; it is safe to call twice.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpClient } from '../src/http/client';
import { runPool } from '../src/run/pool';
import { startMarathon } from '../test/doubles/marathon-double';
import { startRegistryDouble, type DoubleFleet } from '../test/doubles/registry-double';
import { startSlack, type SlackPost } from '../test/doubles/slack-double';
import { pushImage, registryAvailable, startRegistry } from '../test/support/registry';
import { APP_PREFIX, createdAt, IMAGES, PROD_TAGS, runningBefore, SERVICES, STAGE_APPS } from './story';

export interface FleetApp {
  /** Marathon app id, e.g. /shop/prod/orders. */
  id: string;
  /** The image the app runs, as Marathon reports it. */
  image: string;
}

export interface DemoEnvironment {
  workDir: string;
  configFile: string;
  /** 127.0.0.1:PORT, as image references spell the registry. */
  registryHost: string;
  /** Variables the worker needs: the secrets rollback.yml names with ${VAR}. */
  workerEnv: Record<string, string>;
  /** Every app in Marathon, read through its REST API, sorted by id. */
  fleet(): Promise<FleetApp[]>;
  /** The text of every message the Slack double received, oldest first. */
  slackMessages(): string[];
  close(): Promise<void>;
}

export interface EnvironmentOptions {
  /** Use the registry double even when docker-registry is installed. */
  registryDouble?: boolean;
  now?: Date;
  /** Progress lines while starting. */
  say?: (text: string) => void;
}

interface Closer {
  what: string;
  close: () => Promise<void> | void;
}

export async function startEnvironment(options: EnvironmentOptions = {}): Promise<DemoEnvironment> {
  const now = options.now ?? new Date();
  const say = options.say ?? (() => {});
  const closers: Closer[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    // Last started, first stopped; one failure must not keep the rest running.
    for (const c of closers.reverse()) {
      try {
        await c.close();
      } catch {
        /* best effort: the process is ending */
      }
    }
  };
  try {
    const workDir = mkdtempSync(join(tmpdir(), 'rollback-demo-'));
    closers.push({ what: 'work folder', close: () => rmSync(workDir, { recursive: true, force: true }) });

    // Secrets exist only in this process's memory and the worker's environment, as in Jenkins.
    const registryUser = 'demo';
    const registryPassword = randomBytes(12).toString('hex');
    // The real registry needs htpasswd (apache2-utils) for its basic auth; without either, the double.
    const useReal = !options.registryDouble && registryAvailable() && commandExists('htpasswd');
    const auth = { username: registryUser, password: registryPassword };
    const repositoryOf = (service: string) => SERVICES.find((s) => s.name === service)!.repository;
    let registry: { url: string; host: string; stop(): Promise<void> };
    if (useReal) {
      const real = await startRegistry({ auth });
      registry = real;
      closers.push({ what: 'registry', close: () => real.stop() });
      // A few at a time: the registry is quick, the fixture's tar runs are what take time.
      await runPool(IMAGES, 4, (image) =>
        pushImage(real, { repository: repositoryOf(image.service), tag: image.tag, created: createdAt(image.daysAgo, now).toISOString() }).then(() => undefined));
    } else {
      const fleet: DoubleFleet = {};
      for (const image of IMAGES) {
        (fleet[repositoryOf(image.service)] ??= {})[image.tag] = { created: createdAt(image.daysAgo, now).toISOString() };
      }
      registry = await startRegistryDouble({ fleet, auth: { kind: 'basic', ...auth } });
      closers.push({ what: 'registry', close: () => registry.stop() });
    }
    say(`Registry: ${useReal ? 'the real docker-registry' : 'the registry double'} at ${registry.url} (basic auth),`);
    say(`          ${IMAGES.length} images of ${SERVICES.length} services: prod builds (-master), stage and develop builds`);

    const ref = (service: string, tag: string) => `${registry.host}/${repositoryOf(service)}:${tag}`;
    const apps: FleetApp[] = [];
    for (const [service, tag] of Object.entries(runningBefore())) apps.push({ id: `${APP_PREFIX.prod}/${service}`, image: ref(service, tag) });
    for (const [service, tag] of Object.entries(STAGE_APPS)) apps.push({ id: `${APP_PREFIX.stage}/${service}`, image: ref(service, tag) });
    const marathon = await startMarathon({ apps });
    closers.push({ what: 'Marathon double', close: () => marathon.stop() });
    say(`Marathon: the Marathon double at ${marathon.url}, ${apps.length} apps (prod and stage)`);
    const slack = await startSlack();
    closers.push({ what: 'Slack double', close: () => slack.stop() });
    say(`Slack: the Slack double (an incoming webhook) on loopback`);

    const configFile = join(workDir, 'rollback.yml');
    writeFileSync(configFile, configText(registry.url, marathon.url));
    const http = createHttpClient({ attempts: 1 });
    closers.push({ what: 'HTTP client', close: () => http.close() });
    return {
      workDir,
      configFile,
      registryHost: registry.host,
      workerEnv: { REGISTRY_USER: registryUser, REGISTRY_PASSWORD: registryPassword, SLACK_WEBHOOK: slack.webhook },
      async fleet() {
        // Read through Marathon's public API, as an operator would: GET /v2/apps
        // (https://mesosphere.github.io/marathon/api-console/index.html).
        const res = await http.request(`${marathon.url}/v2/apps`);
        const body = JSON.parse(res.body.toString('utf8')) as { apps: { id: string; container?: { docker?: { image?: string } } }[] };
        return body.apps.map((a) => ({ id: a.id, image: a.container?.docker?.image ?? '' })).sort((a, b) => a.id.localeCompare(b.id));
      },
      slackMessages: () => slack.posts.map(postText),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** What a person reads in a Slack message: its text, else the text of its blocks (https://api.slack.com/reference/block-kit/blocks). */
export function postText(post: SlackPost): string {
  const texts: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'text' && typeof v === 'string') texts.push(v);
        else visit(v);
      }
    }
  };
  visit(post.body.blocks);
  return texts.length ? texts.join('\n') : post.body.text ?? post.raw;
}

function commandExists(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** rollback.yml of the demo: secrets by ${VAR} only, as the README teaches. */
export function configText(registryUrl: string, marathonUrl: string): string {
  return `# Written by the demo. Secrets come from the environment, never from this file.
registry:
  url: ${registryUrl}
  username: \${REGISTRY_USER}
  password: \${REGISTRY_PASSWORD}
services:
${SERVICES.map((s) => `  - name: ${s.name}\n    repository: ${s.repository}`).join('\n')}
environments:
  prod:
    tags: '${PROD_TAGS}'
    target:
      marathon: { url: '${marathonUrl}', appPrefix: ${APP_PREFIX.prod} }
  stage:
    tags: '-stage$'
    target:
      marathon: { url: '${marathonUrl}', appPrefix: ${APP_PREFIX.stage} }
limit: 10
timezone: UTC
deployTimeout: 60
settle: 2
notify:
  slack:
    webhook: \${SLACK_WEBHOOK}
`;
}
