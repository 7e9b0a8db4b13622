// Entry point: everything happens in main(); the exit code is set, never forced (work may be flushing).
import { main } from './cli/main';

main(process.argv.slice(2), process.env).then((code) => {
  process.exitCode = code;
});
