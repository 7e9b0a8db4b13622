/**
 * Registry credentials found the way the docker CLI finds them, so a `docker login` on the agent
 * is enough: rollback.yml's registry.username/password when given; else the docker client
 * configuration ($DOCKER_CONFIG/config.json, default ~/.docker/config.json): `credHelpers[host]`,
 * then `credsStore`, then `auths[host]`; else anonymous.
 * docker/cli: cli/config/configfile/file.go (GetCredentialsStore, GetAuthConfig) and
 * cli/config/credentials/native_store.go; the helper protocol:
 * https://github.com/docker/docker-credential-helpers#development
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RegistryConfig } from '../config/types';
import { inputError } from '../errors';
import { addSecret } from '../log';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /**
   * An identity token (a helper's `<token>` username, or `identitytoken` in auths): a refresh token
   * exchanged at the token server for an access token (OAuth2 grant_type=refresh_token). ACR hands
   * these out. https://distribution.github.io/distribution/spec/auth/oauth/
   */
  identityToken?: string;
  /** Where they came from, for the one stderr line: "docker config (credHelpers: ecr-login)". */
  from: string;
}

/** The key Docker Hub credentials are stored under (docker/cli registry.IndexServer). */
export const HUB_KEY = 'https://index.docker.io/v1/';
const HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export const isDockerHub = (host: string) => HUB_HOSTS.has(host.toLowerCase());

/** A config key as docker compares it: no scheme, no path ("https://host:5000/v1/" -> "host:5000"). */
export function keyHost(key: string): string {
  return key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0].toLowerCase();
}

const sameHost = (key: string, host: string) => {
  const k = keyHost(key);
  return k === host.toLowerCase() || (isDockerHub(host) && isDockerHub(k));
};

export function dockerConfigFile(env: NodeJS.ProcessEnv): string {
  // Jenkins' dockerConfigCredentialsId: the Secret file itself, read in place (no copy of it is made).
  if (env.ROLLBACK_DOCKER_CONFIG_FILE) return env.ROLLBACK_DOCKER_CONFIG_FILE;
  const dir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  return join(dir, 'config.json');
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** The parsed config.json; undefined when there is none (the usual case on a fresh agent). */
export function readDockerConfig(file: string): DockerConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    const why = code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : code ?? (err as Error).message;
    throw inputError(`Docker client configuration ${file} cannot be read (${why}); fix it or point DOCKER_CONFIG at a folder holding a readable config.json.`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // Never quote the text: it holds credentials.
    throw inputError(`Docker client configuration ${file} is not valid JSON; fix it (docker login rewrites it) or point DOCKER_CONFIG elsewhere.`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw inputError(`Docker client configuration ${file} is not a JSON object.`);
  return doc as DockerConfigFile;
}

/** The server name a helper is asked about: the Hub's legacy key, else the host as written. */
const helperServer = (host: string) => (isDockerHub(host) ? HUB_KEY : host);

export interface HelperOptions {
  env: NodeJS.ProcessEnv;
  /** The config.json that names the helper, for the message when it is missing. */
  configFile?: string;
  timeoutMs?: number;
}

/**
 * `docker-credential-<name> get` with the server on stdin; JSON {ServerURL, Username, Secret} on
 * stdout. "credentials not found" (exit 1 with that text) means anonymous, as in docker.
 */
export function runCredentialHelper(name: string, host: string, o: HelperOptions): Promise<RegistryCredentials | undefined> {
  const program = `docker-credential-${name}`;
  const fail = (why: string) => inputError(`Credential helper ${program} (for ${host}) ${why}.`);
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let done = false;
    const child = spawn(program, ['get'], { env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(fail(`did not answer within ${Math.round((o.timeoutMs ?? 30_000) / 1000)} s`));
    }, o.timeoutMs ?? 30_000);
    const finish = (err?: Error, value?: RegistryCredentials) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    };
    child.stdout.on('data', (d: Buffer) => { if (stdout.length < 1 << 20) stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < 1 << 16) stderr += d.toString('utf8'); });
    child.on('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ENOENT' ? fail(`is not on PATH; install it, or remove it from ${o.configFile ?? 'the docker client configuration'}`) : fail(`cannot be started (${err.code ?? err.message})`)),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(helperServer(host));
    child.on('close', (code) => {
      if (code !== 0) {
        if (/credentials not found/i.test(stdout + stderr)) return finish(undefined, undefined);
        // The helper's own words are not quoted: a broken helper may print what it holds.
        return finish(fail(`failed (exit code ${code})`));
      }
      let answer: { Username?: unknown; Secret?: unknown };
      try {
        answer = JSON.parse(stdout) as typeof answer;
      } catch {
        return finish(fail('printed something that is not the JSON {ServerURL, Username, Secret} the protocol asks for'));
      }
      if (!answer || typeof answer !== 'object' || typeof answer.Secret !== 'string' || (answer.Username !== undefined && typeof answer.Username !== 'string')) {
        return finish(fail('answered without a Secret string'));
      }
      const secret = answer.Secret;
      addSecret(secret);
      if (!secret) return finish(undefined, undefined);
      const username = (answer.Username as string | undefined) ?? '';
      const from = `docker config (${name})`;
      finish(undefined, username === '<token>' ? { identityToken: secret, from } : { username, password: secret, from });
    });
  });
}

function fromAuths(entry: NonNullable<DockerConfigFile['auths']>[string], file: string): RegistryCredentials | undefined {
  const from = `docker config (auths in ${file})`;
  if (entry.identitytoken) {
    addSecret(entry.identitytoken);
    return { identityToken: entry.identitytoken, from };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw inputError(`Docker client configuration ${file}: an 'auth' entry is not base64 of user:password.`);
    addSecret(entry.auth);
    addSecret(decoded.slice(i + 1));
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1), from };
  }
  if (entry.username && entry.password) {
    addSecret(entry.password);
    return { username: entry.username, password: entry.password, from };
  }
  return undefined;
}

/**
 * The credentials for a registry host, in docker's order. `from` of the answer names the source,
 * never the secret; undefined means anonymous.
 */
export async function findCredentials(registry: Pick<RegistryConfig, 'username' | 'password'>, host: string, env: NodeJS.ProcessEnv): Promise<RegistryCredentials | undefined> {
  if (registry.username !== undefined && registry.password !== undefined) {
    addSecret(registry.password);
    return { username: registry.username, password: registry.password, from: 'rollback.yml (registry.username)' };
  }
  const file = dockerConfigFile(env);
  const config = readDockerConfig(file);
  if (!config) return undefined;
  const helpers = config.credHelpers && typeof config.credHelpers === 'object' ? config.credHelpers : {};
  const helperKey = Object.keys(helpers).find((k) => sameHost(k, host));
  if (helperKey && typeof helpers[helperKey] === 'string' && helpers[helperKey]) {
    const found = await runCredentialHelper(helpers[helperKey], host, { env, configFile: file });
    return found && { ...found, from: `docker config (credHelpers: ${helpers[helperKey]})` };
  }
  if (typeof config.credsStore === 'string' && config.credsStore) {
    const found = await runCredentialHelper(config.credsStore, host, { env, configFile: file });
    if (found) return { ...found, from: `docker config (credsStore: ${config.credsStore})` };
  }
  const auths = config.auths && typeof config.auths === 'object' ? config.auths : {};
  // An exact key first ("host:5000"), then any spelling of the same host ("https://host:5000/v1/").
  const key = host in auths ? host : Object.keys(auths).find((k) => sameHost(k, host));
  const entry = key !== undefined ? auths[key] : undefined;
  return entry && typeof entry === 'object' ? fromAuths(entry, file) : undefined;
}

/** The one stderr line saying where credentials came from (never what they are). */
export function describeCredentials(host: string, found: RegistryCredentials | undefined): string {
  return `credentials for ${host}: ${found ? found.from : 'none (anonymous)'}`;
}

/**
 * The credentials the swarm and docker targets pull with (X-Registry-Auth): the same chain as
 * `get`, so a `docker login` on the agent is enough for them too. An identity token cannot be
 * handed to the engine as a password, so it is left out (the engine then pulls with its own login).
 */
export async function targetPullAuth(registry: Pick<RegistryConfig, 'url' | 'username' | 'password'>, env: NodeJS.ProcessEnv): Promise<{ username: string; password: string; serverAddress: string } | undefined> {
  const host = new URL(registry.url).host;
  const found = await findCredentials(registry, host, env);
  return found?.username !== undefined && found.password !== undefined
    ? { username: found.username, password: found.password, serverAddress: isDockerHub(host) ? HUB_KEY : host }
    : undefined;
}
