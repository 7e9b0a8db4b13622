import { request } from 'undici';
import { pushImage, RunningRegistry, startRegistry } from '../support/registry';

describe('the real registry fixture', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => reg?.stop());

  it('serves a pushed OCI index by tag with the digest it reported', async () => {
    const digest = await pushImage(reg, { repository: 'shop/api', tag: '1-prod', created: '2026-11-01T10:00:00Z', format: 'oci-index' });
    const res = await request(`${reg.url}/v2/shop/api/manifests/1-prod`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(res.headers['docker-content-digest']).toBe(digest);
  });
});
