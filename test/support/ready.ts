/**
 * No silent skip. A suite that needs a real server (the registry binary, dockerd...) which this
 * machine lacks does not `describe.skip` into a green run: it fails with one sentence saying what
 * is missing and how to install it. Only an explicit ROLLBACK_TEST_SKIP=<suite>[,<suite>...] skips
 * it (CI never sets it), so a skipped suite is always someone's decision, said on the command line.
 *
 *   const describeReady = readyOrFail('crash', registryMissing());
 *   describeReady('the worker SIGKILLed ...', () => { ... });
 */
import { registryAvailable } from './registry';

type Describe = (name: string, fn: () => void) => void;

/** The suites ROLLBACK_TEST_SKIP names. */
export function skippedSuites(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.ROLLBACK_TEST_SKIP ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * `describe` when `missing` is undefined; else a describe whose one test fails with `missing` and
 * the way to skip knowingly, or describe.skip when ROLLBACK_TEST_SKIP names `suite`.
 */
export function readyOrFail(suite: string, missing: string | undefined, env: NodeJS.ProcessEnv = process.env): Describe {
  if (missing === undefined) return describe;
  if (skippedSuites(env).includes(suite)) return describe.skip;
  return (name) => describe(name, () => {
    it(`needs a real server this machine lacks (${suite})`, () => {
      throw new Error(`${missing.replace(/\.$/, '')}; or set ROLLBACK_TEST_SKIP=${suite} to skip this suite knowingly.`);
    });
  });
}

/** The sentence for a missing registry binary, or undefined when it is installed. */
export function registryMissing(): string | undefined {
  return registryAvailable() ? undefined
    : 'The real registry (the docker-registry binary) is not installed: run `sudo bash scripts/ensure-test-env.sh`, which installs it from Debian (apt-get install docker-registry).';
}

/**
 * The sentence for whatever of `parts` ([present, what it is]) is missing, or undefined when all
 * are present: "This suite needs a Docker engine that answers (dockerd) and ...: run ...".
 */
export function partsMissing(parts: [boolean, string][]): string | undefined {
  const absent = parts.filter(([present]) => !present).map(([, what]) => what);
  if (absent.length === 0) return undefined;
  return `This suite needs ${absent.join(' and ')}, which this machine lacks: run \`sudo bash scripts/ensure-test-env.sh\`, which installs them from Debian and starts dockerd as a one-node swarm.`;
}
