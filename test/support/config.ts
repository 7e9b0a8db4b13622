import type { Config, ServiceConfig } from '../../src/config/types';

/**
 * A validated Config, as loadConfig would return it, for suites that drive getCatalog directly:
 * a prod environment (tags -prod$) over the given registry, the services given, defaults elsewhere.
 */
export function registryTestConfig(url: string, services: ServiceConfig[], over: Partial<Config> = {}): Config {
  return {
    source: 'test.yml',
    registry: { url, concurrency: 4 },
    services,
    environments: { prod: { name: 'prod', tags: '-prod$', target: { docker: {} } } },
    limit: 10,
    timezone: 'UTC',
    parallel: 4,
    deployTimeout: 600,
    notify: {},
    ...over,
  };
}
