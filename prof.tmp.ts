import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { DoubleFleet, startRegistryDouble } from './test/doubles/registry-double';
import { fleetImages, repositoryName } from './bench/seed';
(async () => {
  const images = fleetImages({ repos: 30, tagsPerRepo: 200, environments: ['master', 'stage', 'develop'], newest: new Date('2026-11-20T18:00:00Z') });
  const fleet: DoubleFleet = {};
  for (const img of images) (fleet[img.repository] ??= {})[img.tag] = { created: img.created };
  const d = await startRegistryDouble({ fleet, logRequests: false });
  writeFileSync('/tmp/prof/r.yml', stringify({ registry: { url: d.url }, services: Array.from({ length: 30 }, (_, i) => ({ name: repositoryName(i + 1).split('/')[1], repository: repositoryName(i + 1) })), environments: { master: { target: { marathon: { url: 'http://127.0.0.1:9/', appPrefix: '/b' } } } } }));
  const c = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof', '/work/main/resources/rollback.js', 'get', '--config', '/tmp/prof/r.yml', '--env', 'master', '--catalog', '/tmp/prof/state/catalog.json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((r) => c.on('close', r));
  await d.stop();
})();
