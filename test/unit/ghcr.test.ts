/** GHCR naming rules: which registry URLs are GHCR, and how a repository names its package. */
import { isGhcr, splitPackage } from '../../src/registry/ghcr';

test.each([
  ['https://ghcr.io', true],
  ['https://ghcr.io/', true],
  ['https://ghcr.io:443', true],
  ['https://registry.example.com', false],
  ['https://ghcr.io.example.com', false],
  ['not a url', false],
])('isGhcr(%s) is %s', (url, expected) => {
  expect(isGhcr(url)).toBe(expected);
});

test('the first path segment is the owner, the rest (slashes included) the package', () => {
  expect(splitPackage('shop/api')).toEqual({ owner: 'shop', name: 'api' });
  expect(splitPackage('shop/team/api')).toEqual({ owner: 'shop', name: 'team/api' });
});

test.each(['api', '/api', 'shop/'])('%s is refused as input, naming the repository', (repo) => {
  expect(() => splitPackage(repo)).toThrow(`Repository ${repo} is not <owner>/<package>, as images on ghcr.io are named.`);
});
