import { nodeRefusal } from '../../src/node-check';
import { engines } from '../../package.json';

describe('the worker refuses a Node.js older than engines.node', () => {
  test('engines.node is what the check reads', () => {
    expect(engines.node).toBe('>=20.18.1');
  });

  test.each([
    ['18.19.0', 'this agent has Node.js v18.19.0; the rollback worker needs Node.js 20.18.1 or newer.'],
    ['v20.18.0', 'this agent has Node.js v20.18.0; the rollback worker needs Node.js 20.18.1 or newer.'],
    ['20.9.9', 'this agent has Node.js v20.9.9; the rollback worker needs Node.js 20.18.1 or newer.'],
    ['20.18.1', null],
    ['20.19.0', null],
    ['22.0.0', null],
    ['24.11.1', null],
  ])('%s', (version, sentence) => {
    expect(nodeRefusal(version)).toBe(sentence);
  });
});
