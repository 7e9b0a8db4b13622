import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environmentOf, loadConfig, parseConfig } from '../../src/config/load';
import { RollbackError } from '../../src/errors';
import { mask } from '../../src/log';

const GOOD = `registry:
  url: https://registry.example.com/
  username: \${REG_USER}
  password: \${REG_PASSWORD}
services:
  - name: api
    repository: shop/api
  - name: web
environments:
  prod:
    target:
      marathon: { url: https://marathon.example.com, appPrefix: /ds/prod }
  stage:
    tags: '-stage$'
    target:
      swarm: { host: unix:///var/run/docker.sock }
`;
const ENV = { REG_USER: 'ci', REG_PASSWORD: 'Sup3r-secret!' };

function error(text: string, env: NodeJS.ProcessEnv = ENV): RollbackError {
  try {
    parseConfig(text, 'rollback.yml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(RollbackError);
    expect((err as RollbackError).exitCode).toBe(2);
    return err as RollbackError;
  }
  throw new Error('expected the configuration to be refused');
}

describe('a good configuration', () => {
  it('gets its defaults and its variables', () => {
    const c = parseConfig(GOOD, 'rollback.yml', ENV);
    expect(c.registry).toEqual({ url: 'https://registry.example.com', username: 'ci', password: 'Sup3r-secret!', concurrency: 8, concurrencySet: false });
    expect(c.services.map((s) => [s.name, s.repository])).toEqual([['api', 'shop/api'], ['web', 'web']]);
    expect(c.environments.prod.tags).toBe('-prod$');
    expect(c.environments.stage.tags).toBe('-stage$');
    expect([c.limit, c.timezone, c.parallel, c.deployTimeout, c.settle]).toEqual([10, 'UTC', 4, 600, 30]);
  });

  it('masks the password it read from the environment in every later message', () => {
    parseConfig(GOOD, 'rollback.yml', ENV);
    expect(mask('login with Sup3r-secret! failed')).toBe('login with *** failed');
  });

  it('escapes an environment name used as the default tag suffix', () => {
    const c = parseConfig(GOOD.replace('  prod:\n', '  v1.2:\n'), 'rollback.yml', ENV);
    expect(c.environments['v1.2'].tags).toBe('-v1\\.2$');
    expect(new RegExp(c.environments['v1.2'].tags).test('x-v1x2')).toBe(false);
  });
});

describe('a bad configuration is one sentence naming file, line and key (exit 2)', () => {
  it.each([
    ['a missing variable', GOOD, { REG_USER: 'ci' }, /^rollback\.yml:4: registry\.password needs the environment variable REG_PASSWORD, which is not set\.$/],
    ['invalid YAML', GOOD.replace('  - name: web', '  - name: [web'), ENV, /^rollback\.yml:\d+: this is not valid YAML \(/],
    ['a missing required key', GOOD.replace('  url: https://registry.example.com/\n', ''), ENV, /^rollback\.yml:2: registry is missing the required key 'url'\.$/],
    ['an unknown key', GOOD.replace('  - name: web', '  - name: web\n    image: web'), ENV, /^rollback\.yml:9: services\[1\] has an unknown key 'image'\.$/],
    ['a wrong type', GOOD + 'limit: many\n', ENV, /^rollback\.yml:17: limit must be integer\.$/],
    ['two targets in one environment', GOOD.replace('      swarm: { host: unix:///var/run/docker.sock }', '      swarm: {}\n      docker: {}'), ENV, /^rollback\.yml:16: environments\.stage\.target must name exactly one target/],
    ['a service listed twice', GOOD.replace('  - name: web', '  - name: api'), ENV, /^rollback\.yml:8: service 'api' is listed twice \(also at services\[0\]\)\.$/],
    ['a bad tag expression', GOOD.replace("'-stage$'", () => "'-(stage$'"), ENV, /^rollback\.yml:14: environments\.stage\.tags is not a valid regular expression/],
    ['an unknown time zone', GOOD + 'timezone: Mars/Olympus\n', ENV, /^rollback\.yml:17: timezone 'Mars\/Olympus' is not a known IANA time zone/],
    ['a list instead of a mapping', '- a\n- b\n', ENV, /^rollback\.yml: the configuration must be a mapping/],
  ])('%s', (_what, text, env, message) => {
    expect(error(text, env).message).toMatch(message);
  });
});

describe('loadConfig and environmentOf', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'rollback-config-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says a missing file does not exist', () => {
    expect(() => loadConfig(join(dir, 'nope.yml'), ENV)).toThrow(`Configuration file ${join(dir, 'nope.yml')} does not exist.`);
  });

  it('says a directory is a directory', () => {
    expect(() => loadConfig(dir, ENV)).toThrow(`Configuration file ${dir} is a directory.`);
  });

  it('names an unknown environment and lists the known ones', () => {
    const file = join(dir, 'rollback.yml');
    writeFileSync(file, GOOD);
    const c = loadConfig(file, ENV);
    expect(environmentOf(c, 'stage').name).toBe('stage');
    expect(() => environmentOf(c, 'production')).toThrow(`Environment 'production' is not in ${file}; it defines: prod, stage.`);
  });
});
