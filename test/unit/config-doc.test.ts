import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

describe('docs/configuration.md', () => {
  it('is what schema/rollback.schema.json says (run `npm run docs` after changing the schema)', () => {
    const run = spawnSync(process.execPath, [resolve(__dirname, '../../scripts/config-doc.mjs'), '--check'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
