/** What the swarm and docker targets both need before their first request: the engine, a clock, a poll interval. */
import type { DockerTargetConfig, SwarmTargetConfig } from '../../config/types';
import type { TargetContext } from '../types';
import { createEngineClient, EngineClient } from './engine';
import { resolveEngineAddress } from './host';
import { Clock, clockOf } from './time';

export interface EngineTargetDeps {
  engine?: EngineClient;
  clock?: Clock;
  /** Pause between two looks at a change in progress. Default ctx.pollMs, else 1 s. */
  pollMs?: number;
}

export function engineTarget<K extends 'swarm' | 'docker'>(ctx: TargetContext, kind: K, deps: EngineTargetDeps) {
  const config = (ctx.environment.target as Record<K, K extends 'swarm' ? SwarmTargetConfig : DockerTargetConfig>)[kind];
  const configWhere = `${ctx.config.source} environments.${ctx.environment.name}.target.${kind}`;
  const address = resolveEngineAddress(config.host, config.tls, ctx.env, configWhere, config);
  return {
    config,
    configWhere,
    address,
    engine: deps.engine ?? createEngineClient({ address, configWhere, env: { ...process.env, ...ctx.env } }),
    clock: deps.clock ?? clockOf(ctx),
    pollMs: deps.pollMs ?? ctx.pollMs ?? 1000,
  };
}
