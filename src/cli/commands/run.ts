/**
 * `rollback run --config rollback.yml --env prod --date 2026-11-19 [--catalog FILE] [--dry-run] [--approver NAME]`
 * The edge of the run engine (src/run/engine.ts): reads config and catalog, opens the target, the
 * registry (for preflight) and the notifiers, runs, and closes them. Progress and the final
 * one-sentence summary go to stderr; the exit code says how it ended (DESIGN.md).
 */
import { dirname, resolve } from 'node:path';
import { readCatalog } from '../../catalog/io';
import type { Catalog } from '../../catalog/types';
import { environmentOf, loadConfig } from '../../config/load';
import { targetKind, type Config, type EnvironmentConfig } from '../../config/types';
import { inputError } from '../../errors';
import { createHttpClient, type HttpClient } from '../../http/client';
import { approverOf, fanOut } from '../../notify/index';
import { createGithubDeploymentsNotifier } from '../../notify/github-deployments';
import { createSlackNotifier } from '../../notify/slack';
import type { Notifier } from '../../notify/types';
import { createRegistryClient } from '../../registry/client';
import { targetPullAuth } from '../../registry/credentials';
import { ghcrImageExists, ghcrPackages, ghcrRegistry, ghcrToken, isGhcr } from '../../registry/ghcr';
import { runRollback, type EngineDeps, type Outcome } from '../../run/engine';
import { checkSelection, serviceList, type Selection } from '../../plan/choose';
import { openTarget } from '../../targets';
import type { Target } from '../../targets/types';
import type { CommandContext } from '../context';
import { requireOption } from '../options';
import { releasedCatalogFor } from './points';
import { recordAfter } from './record';
import { undoesForRun, withChangeUndoes } from './run-undoes';

/** What tests, the demo and the chaos suites may replace at the edge. */
export interface RunIo {
  open?: typeof openTarget;
  /** Extra engine dependencies (clock, sleep, lock wait, imageExists). */
  engine?: Partial<EngineDeps>;
  /** Extra notifiers (e.g. GitHub Deployments), added to Slack. */
  notifiers?: Notifier[];
}

export interface Setup {
  config: Config;
  environment: EnvironmentConfig;
  catalogFile: string;
  stateDir: string;
  target: Target;
  http: HttpClient;
  notifier: Notifier;
  close(): Promise<void>;
}

export type Loaded = Pick<Setup, 'config' | 'environment' | 'catalogFile' | 'stateDir'>;

/** Config and environment first: a wrong --config or --env is the first thing to say. */
export function loadEnvironment(ctx: CommandContext): Loaded {
  const configFile = resolve(ctx.cwd, requireOption(ctx.options, 'config', '--config'));
  const envName = requireOption(ctx.options, 'env', '--env');
  const config = loadConfig(configFile, ctx.env);
  const environment = environmentOf(config, envName);
  const catalogFile = resolve(ctx.cwd, ctx.options.catalog);
  return { config, environment, catalogFile, stateDir: dirname(catalogFile) };
}

/** Config, environment, state dir, target and notifiers: what plan, run and undo share. */
export async function setup(ctx: CommandContext, io: RunIo, withNotifiers: boolean, loaded: Loaded = loadEnvironment(ctx)): Promise<Setup> {
  const { config, environment, catalogFile, stateDir } = loaded;
  const http = createHttpClient({ sleep: io.engine?.sleep });
  const notifiers: Notifier[] = [...(io.notifiers ?? [])];
  if (withNotifiers && config.notify.slack) notifiers.push(createSlackNotifier({ webhook: config.notify.slack.webhook, channel: config.notify.slack.channel, http }));
  const deployments = withNotifiers && config.github?.deployments
    ? createGithubDeploymentsNotifier({
      repo: config.github.deployments.repo, ref: config.github.deployments.ref, token: config.github.token, apiUrl: config.github.apiUrl,
      logUrl: ctx.env.BUILD_URL, github: { sleep: io.engine?.sleep },
    })
    : undefined;
  if (deployments) notifiers.push(deployments);
  // Targets that pull (swarm, docker) get the registry credentials from the same chain as get.
  const registryAuth = ['swarm', 'docker'].includes(targetKind(environment.target)) ? await targetPullAuth(config.registry, ctx.env) : undefined;
  const target = await (io.open ?? openTarget)({ config, environment, env: ctx.env, logger: ctx.logger, stateDir, sleep: io.engine?.sleep, now: io.engine?.now, registryAuth, approver: approverOf(ctx.options.approver, ctx.env) });
  return {
    config, environment, catalogFile, stateDir, target, http, notifier: fanOut(notifiers, ctx.logger),
    close: async () => {
      await target.close();
      await http.close();
      await deployments?.close();
    },
  };
}

/** --only / --except, checked against the configuration's services before anything is asked of a target. */
export function selectionOf(ctx: CommandContext, config: Config): Selection {
  const selection = { only: serviceList(ctx.options.only, '--only'), except: serviceList(ctx.options.except, '--except') };
  checkSelection(selection, config.services.map((s) => s.name), config.source);
  return selection;
}

/** The services the configuration holds back (`hold: true`). */
export function heldByConfig(config: Config): string[] {
  return config.services.filter((s) => s.hold).map((s) => s.name);
}

export function readCatalogFor(file: string, envName: string): Catalog {
  const catalog = readCatalog(file);
  if (catalog.environment !== envName) {
    throw inputError(`Catalog ${file} was written for '${catalog.environment}', not '${envName}'; run 'rollback get --env ${envName}' first (or pass its --catalog).`);
  }
  return catalog;
}

/**
 * While a run changes the fleet, the first SIGTERM (Jenkins abort) or SIGINT (Ctrl-C) stops it the
 * safe way: no new service starts and what changed is put back. A second signal ends the process
 * at once (default behaviour again); the snapshot then lets `rollback undo` finish the job.
 */
export async function withInterrupts<T>(ctx: CommandContext, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    ctx.logger.info(`Received ${sig}: no new service starts, and what changed is put back (send it again to stop at once; then run 'rollback undo').`);
    controller.abort(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** Prints the outcome's sentence and turns it into the exit code. */
export function finish(ctx: CommandContext, outcome: Outcome): number {
  if (outcome.exitCode === 0) ctx.logger.info(outcome.summary);
  else ctx.logger.info(`rollback: ${outcome.summary}`);
  return outcome.exitCode;
}

export async function runCommand(ctx: CommandContext, io: RunIo = {}): Promise<number> {
  const loaded = loadEnvironment(ctx);
  const envName = loaded.environment.name;
  const stored = ctx.options.at ? undefined : readCatalogFor(loaded.catalogFile, envName);
  const date = ctx.options.at ?? requireOption(ctx.options, 'date', '--date (or --at)');
  const selection = selectionOf(ctx, loaded.config);
  const s = await setup(ctx, io, true, loaded);
  const catalog = stored ?? (await releasedCatalogFor(ctx, s).catch(async (err) => {
    await s.close();
    throw err;
  }));
  // ghcr.io: the preflight asks the GitHub Packages API, as `get` did (src/registry/ghcr.ts).
  // Without a token (public images), or when the API refuses a fine-grained one, the registry's HEADs.
  const ghcr = !io.engine?.imageExists && isGhcr(s.config.registry.url) && ghcrToken(s.config) ? ghcrPackages(s.config, { logger: ctx.logger, github: { sleep: io.engine?.sleep } }) : undefined;
  const registry = io.engine?.imageExists ? undefined : createRegistryClient(ghcr ? ghcrRegistry(s.config) : s.config.registry, { logger: ctx.logger, env: ctx.env });
  try {
    // What each change takes away, for Slack and GitHub Deployments (never fails the run).
    const notifying = !ctx.options.dryRun && !io.engine?.notifier && Boolean(s.config.notify.slack || s.config.github?.deployments || io.notifiers?.length);
    const undoes = notifying ? await undoesForRun(ctx, s, catalog, date, selection) : new Map();
    const outcome = await withInterrupts(ctx, (signal) => runRollback({
      target: s.target, notifier: withChangeUndoes(s.notifier, undoes), logger: ctx.logger, stateDir: s.stateDir, signal,
      imageExists: ghcr ? ghcrImageExists(ghcr, (image) => registry!.hasManifest(image.repository, image.digest)) : registry ? (image) => registry.hasManifest(image.repository, image.digest) : undefined,
      ...io.engine,
    }, {
      environment: envName, services: s.config.services, approver: approverOf(ctx.options.approver, ctx.env), dryRun: ctx.options.dryRun,
      parallel: s.config.parallel, deployTimeoutMs: s.config.deployTimeout * 1000, settleMs: (s.config.settle ?? 30) * 1000, catalog, date, ...selection,
    }));
    await recordAfter(ctx, s, outcome, 'run', io);
    return finish(ctx, outcome);
  } finally {
    await s.close();
    await registry?.close();
    await ghcr?.close();
  }
}
