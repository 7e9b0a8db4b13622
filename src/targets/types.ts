/**
 * A target is where an environment runs (Marathon, Swarm, a Docker host, Kubernetes, a GitOps
 * repository). The run engine (src/run/) knows nothing else about it: plan, preflight,
 * all-or-nothing, snapshot, undo and Slack are shared by every target.
 */
import type { Config, EnvironmentConfig, ServiceConfig } from '../config/types';
import type { HttpClient } from '../http/client';
import type { Logger } from '../log';

export interface Deployed {
  /** The image reference the target runs now, exactly as the target reports it. */
  image: string;
  /** How the target names the service (app id, swarm service, container, workload, file). */
  id: string;
}

export interface Target {
  /** e.g. "Marathon at https://marathon.example.com under /ds/prod". */
  describe(): string;
  /** The service's current image; throws an input error naming the service if it is not found. */
  current(service: ServiceConfig): Promise<Deployed>;
  /**
   * A sentence if a deployment is already in flight for the service (preflight refuses), else
   * undefined. `ours`: the image a run this one reverts put in place (undo); a deployment towards
   * exactly that image is that run's own, not someone else's, and does not count.
   */
  busy(service: ServiceConfig, ours?: string): Promise<string | undefined>;
  /**
   * Optional preflight check, asked for every service a run or undo would change, before anything
   * changes: a sentence when the target cannot change this service safely (another controller owns
   * it and would put it back, image automation would move it forward again, a job that is not a
   * service, an update strategy that never rolls out...), naming the reason and the way that works;
   * undefined when it can. The engine refuses the whole run with the first sentence, in plan order.
   */
  refuse?(service: ServiceConfig, image: string): Promise<string | undefined>;
  /**
   * Optional: who else manages the service, read from its ownership metadata ("Argo CD application
   * shop-prod (annotation argocd.argoproj.io/tracking-id)"), undefined when nothing says. The engine
   * names it as the likely cause when a service moved away from its new image during settle
   * (src/run/settle.ts).
   */
  controllerOf?(service: ServiceConfig): Promise<string | undefined>;
  /**
   * Optional: what the plan should also say about this target for these services (image automation
   * that was told to be ignored, how health is or is not checked). Printed by `plan`, logged by `run`.
   */
  notes?(services: ServiceConfig[]): Promise<string[]>;
  /**
   * Optional: when this target cannot see the services become healthy, the words the final sentence
   * ends with ("health was not checked: ..."), so nobody reads "done" as "running".
   */
  unchecked?(): string | undefined;
  /**
   * Starts the change to `image` (digest-pinned reference); returns once the target accepted it.
   * `supersede`: the image this run (or the run an undo reverts) put in place; a deployment still in
   * flight towards exactly that image is its own, and may be superseded; anyone else's is waited for.
   */
  deploy(service: ServiceConfig, image: string, supersede?: string): Promise<void>;
  /** Resolves when the service runs `image` healthily; rejects with a sentence on failure or after timeoutMs. */
  waitHealthy(service: ServiceConfig, image: string, timeoutMs: number): Promise<void>;
  /**
   * Optional: targets that change the whole fleet in one atomic step (GitOps: one commit)
   * implement this instead of per-service deploy; the engine then calls it once.
   */
  deployAll?(changes: { service: ServiceConfig; image: string }[], message: string): Promise<void>;
  /**
   * Optional: targets that keep their own history of the changes they made (the docker target's
   * per-host history file) tell what the last run or undo that changed any of `services` did, so
   * `rollback undo` works without a snapshot (another agent, a wiped workspace).
   */
  lastChanges?(services: ServiceConfig[]): Promise<RememberedRun>;
  /**
   * Optional: what the target remembers of each service's past images (Marathon's app versions,
   * the docker history file...), so release points exist before the first ledger record
   * (docs/points.md). Best effort: a service it cannot tell about is left out, never guessed.
   * Images as the target spells them; the caller pins them by digest.
   */
  history?(services: ServiceConfig[]): Promise<TargetHistory>;
  close(): Promise<void>;
}

/** What a target remembers of the services' past images (see Target.history). */
export interface TargetHistory {
  /** Where it comes from, for people: "Marathon versions". */
  source: string;
  /** Each change of a service's image, with when it was made (ISO 8601); any order. */
  changes: { service: string; time: string; image: string }[];
}

/** What a target's own history says about its last run or undo (see Target.lastChanges). */
export interface RememberedRun {
  /** Where the history is kept, for messages: "the docker history file /var/lib/rollback/edge-1.json". */
  source: string;
  /** Absent when the history records no change of these services. */
  last?: {
    /** When the last replacement of that run took over (ISO 8601). */
    at: string;
    /** Net change per service; a service that run put back where it was is not listed. */
    changes: { service: string; before: string; after: string }[];
  };
}

export interface TargetContext {
  config: Config;
  environment: EnvironmentConfig;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Shared HTTP client options (retries, timeouts) for targets that speak HTTP. */
  http?: HttpClient;
  /** Registry credentials, for targets that must pull (X-Registry-Auth, docker pull). */
  registryAuth?: { username?: string; password?: string; serverAddress: string };
  /** Where state files live (.rollback/ next to the catalog by default). */
  stateDir: string;
  /** Injected for tests and chaos suites (waits, deadlines); default real time. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** How often waitHealthy polls; default chosen by the target (2 s for Marathon). */
  pollMs?: number;
  /** Who approved the run or undo (--approver, else the build user), for targets that record it on what they change. */
  approver?: string;
}

export type TargetFactory = (ctx: TargetContext) => Target;
