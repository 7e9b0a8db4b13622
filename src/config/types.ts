/** The validated rollback.yml, with defaults applied and ${VAR}s resolved. Mirrors schema/rollback.schema.json. */
export interface TlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

export interface RegistryConfig {
  url: string;
  username?: string;
  password?: string;
  insecure?: boolean;
  ca?: string;
  /** Client certificate and key (PEM files) for registries that ask for mutual TLS. */
  cert?: string;
  key?: string;
  /** Requests in flight: connections on HTTP/1.1, streams on HTTP/2. */
  concurrency: number;
  /** True when rollback.yml set concurrency: an HTTP/2 registry is then not given its wider default. */
  concurrencySet?: boolean;
  /** Offer HTTP/2 to an https registry (ALPN). Default true; false: HTTP/1.1 only. */
  http2?: boolean;
  /** Tags are never pushed twice: a warm get trusts the digest and date it cached for a tag. */
  immutableTags?: boolean;
}

export interface ServiceConfig {
  name: string;
  /** Registry repository (defaults to name). */
  repository: string;
  /** Never rolled back unless named in --only (a release with a migration, a stateful singleton). */
  hold?: boolean;
  marathon?: { app?: string };
  swarm?: { service?: string };
  docker?: { container?: string };
  kubernetes?: { kind?: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Rollout'; name?: string; container?: string };
  github?: { paths?: string[] };
  /** GitOps targets (github, gitlab): where this service's image lives, instead of the target's paths. */
  gitops?: {
    paths?: string[];
    /** Helm values: dotted key paths of the image's repository, tag and (optional) digest. */
    values?: { repository: string; tag: string; digest?: string };
    /** Argo CD Application that deploys it (default: argocd.application, else the environment's name). */
    application?: string;
  };
}

export interface MarathonTargetConfig {
  url: string;
  appPrefix: string;
  username?: string;
  password?: string;
  dcos?: { loginUrl?: string; uid?: string; password?: string; token?: string };
  tls?: TlsConfig;
}
export interface SwarmTargetConfig { host?: string; stack?: string; tls?: TlsConfig; identityFile?: string; knownHosts?: string }
export interface DockerTargetConfig { host?: string; container?: string; history?: string; monitor?: number; tls?: TlsConfig; identityFile?: string; knownHosts?: string; project?: string }
export interface KubernetesTargetConfig {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  revisions?: boolean;
  /** A workload another controller manages (Argo CD, Flux, Helm): refused (default), or patched anyway with a warning and annotations. */
  managed?: 'refuse' | 'patch';
}
/** What the github and gitlab targets share: the files, image automation, and how to see the cluster follow. */
export interface GitopsTargetConfig {
  paths: string[];
  /** 'ignore': go ahead even where image automation would move the images forward again (said in the plan and the commit). */
  automation?: 'refuse' | 'ignore';
  /** Wait for Argo CD to sync and report the commit healthy. */
  argocd?: { url: string; token?: string; application?: string; insecure?: boolean };
  /** Without argocd: wait through the kubernetes target's reads of the workloads (kubeconfig as for that target). */
  kubernetes?: { kubeconfig?: string; context?: string; namespace?: string };
}
export interface GithubTargetConfig extends GitopsTargetConfig { repo: string; branch?: string; pullRequest?: boolean }
export interface GitlabTargetConfig extends GitopsTargetConfig {
  /** The instance (https://gitlab.com, or https://host/prefix for a self-managed one under a path); the API is url/api/v4. */
  url: string;
  /** Numeric id or full path (acme/manifests). */
  project: string;
  branch?: string;
  token?: string;
  mergeRequest?: boolean;
}

export type TargetConfig =
  | { marathon: MarathonTargetConfig }
  | { swarm: SwarmTargetConfig }
  | { docker: DockerTargetConfig }
  | { kubernetes: KubernetesTargetConfig }
  | { github: GithubTargetConfig }
  | { gitlab: GitlabTargetConfig };

export type TargetKind = 'marathon' | 'swarm' | 'docker' | 'kubernetes' | 'github' | 'gitlab';

export interface EnvironmentConfig {
  name: string;
  /** Source of the regular expression a tag must match. */
  tags: string;
  target: TargetConfig;
}

export interface Config {
  /** Where the configuration came from (a path, or a description such as "--registry flags"). */
  source: string;
  registry: RegistryConfig;
  services: ServiceConfig[];
  environments: Record<string, EnvironmentConfig>;
  limit: number;
  timezone: string;
  parallel: number;
  deployTimeout: number;
  /** Seconds to wait after the last service is healthy before checking every changed service stayed; 0: off. loadConfig sets it (default 30). */
  settle?: number;
  notify: { slack?: { webhook: string; channel?: string } };
  /** What `get` lists: build days (default) or release points (docs/points.md). */
  points?: 'built' | 'released';
  /** Minutes within which changes a target remembers are one release point (default 10). */
  releaseWindow?: number;
  /** Where release points are recorded; path resolved against the configuration file. Default: ledger/ in the state directory. */
  ledger?: { path?: string; repository?: string };
  github?: { token?: string; apiUrl?: string; deployments?: { repo: string; ref?: string } };
}

export function targetKind(target: TargetConfig): TargetKind {
  return Object.keys(target)[0] as TargetKind;
}
