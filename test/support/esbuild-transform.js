// Jest transformer: TypeScript -> CommonJS with esbuild, inline source maps for readable failures.
const { transformSync } = require('esbuild');

module.exports = {
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
