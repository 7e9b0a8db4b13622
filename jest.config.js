/** Jest runs the TypeScript sources through esbuild (type checking is `npm run typecheck`). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': '<rootDir>/test/support/esbuild-transform.js' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 60000,
  // Real servers (registry, dockerd) are shared by many suites; two workers keep the 2-core machine responsive.
  maxWorkers: 2,
};
