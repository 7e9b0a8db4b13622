// Jest transformer: TypeScript -> CommonJS with esbuild, inline source maps for readable failures.
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { transformSync } = require('esbuild');

// Jest does not hash a custom transformer's own source into its cache key: without this, a change
// to the options below would keep serving files transformed the old way.
const SELF = readFileSync(__filename);

module.exports = {
  getCacheKey(source, filename) {
    return createHash('sha256').update(SELF).update('\0').update(filename).update('\0').update(source).digest('hex');
  },
  process(source, filename) {
    const out = transformSync(source, {
      loader: 'ts',
      format: 'cjs',
      target: 'node20',
      sourcemap: 'inline',
      sourcefile: filename,
      // Jest's vm cannot run a native import() (main.ts loads commands lazily); require it instead.
      supported: { 'dynamic-import': false },
    });
    return { code: out.code };
  },
};
