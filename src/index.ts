// Entry point: everything happens in main(); the exit code is set, never forced (work may be flushing).
// The Node.js version is checked first, and the rest of the worker is loaded only once it passed.
import { nodeRefusal } from './node-check';

const refusal = nodeRefusal(process.versions.node);
if (refusal) {
  process.stderr.write(`rollback: ${refusal}\n`);
  process.exitCode = 2;
} else {
  void import('./cli/main').then(({ main }) => main(process.argv.slice(2), process.env)).then((code) => {
    process.exitCode = code;
  });
}
