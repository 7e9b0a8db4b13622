/** Recreating a container on another image: the user's settings stay, the old image's do not. */
import type { ContainerInspect, ImageInspect } from '../../src/targets/docker/engine';
import { recreateRequest } from '../../src/targets/docker/recreate';

const ID = 'f00dcafe1234' + '0'.repeat(52);
const NEW = 'r.example.com/shop/api:1-prod@sha256:' + 'b'.repeat(64);

function container(config: Record<string, unknown>, hostConfig: Record<string, unknown> = {}, extra: Partial<ContainerInspect> = {}): ContainerInspect {
  return {
    Id: ID,
    Name: '/api',
    Image: 'sha256:old',
    State: { Status: 'running', Running: true },
    Config: { Hostname: 'f00dcafe1234', Image: 'r.example.com/shop/api:2-prod', ...config },
    HostConfig: { NetworkMode: 'none', ...hostConfig },
    ...extra,
  };
}

const oldImage: ImageInspect = {
  Id: 'sha256:old',
  Config: {
    Env: ['PATH=/usr/bin:/bin', 'APP_VERSION=2'],
    Cmd: ['serve'],
    Entrypoint: ['/entry.sh'],
    Labels: { 'org.opencontainers.image.version': '2', maintainer: 'shop' },
    ExposedPorts: { '8080/tcp': {} },
    WorkingDir: '/app',
    User: 'app',
    Healthcheck: { Test: ['CMD', 'wget', '-q', 'localhost:8080/health'] },
  },
};

describe('recreateRequest', () => {
  it('drops what came from the old image and keeps what the user set', () => {
    const { body } = recreateRequest(
      container({
        Env: ['PATH=/usr/bin:/bin', 'APP_VERSION=2', 'DB_URL=postgres://db', 'LOG_LEVEL=debug'],
        Cmd: ['serve'],
        Entrypoint: ['/entry.sh'],
        Labels: { 'org.opencontainers.image.version': '2', maintainer: 'shop', team: 'checkout' },
        ExposedPorts: { '8080/tcp': {}, '9090/tcp': {} },
        WorkingDir: '/app',
        User: 'app',
        Healthcheck: { Test: ['CMD', 'wget', '-q', 'localhost:8080/health'] },
        Tty: false,
      }),
      oldImage,
      NEW,
    );
    expect(body).toEqual({
      Image: NEW,
      Env: ['DB_URL=postgres://db', 'LOG_LEVEL=debug'],
      Labels: { team: 'checkout' },
      ExposedPorts: { '9090/tcp': {} },
      Tty: false,
      HostConfig: { NetworkMode: 'none' },
    });
  });

  it('keeps an overridden command, entrypoint, user and an explicit hostname', () => {
    const { body } = recreateRequest(
      container({ Hostname: 'api-1', Cmd: ['serve', '--verbose'], Entrypoint: ['/bin/sh', '-c'], User: 'root', Env: ['PATH=/usr/bin:/bin'] }),
      oldImage,
      NEW,
    );
    expect(body).toMatchObject({ Hostname: 'api-1', Cmd: ['serve', '--verbose'], Entrypoint: ['/bin/sh', '-c'], User: 'root' });
    expect(body).not.toHaveProperty('Env');
  });

  it('a kept entrypoint keeps its command even when it equals the image\'s (the engine drops the image Cmd then)', () => {
    const { body } = recreateRequest(container({ Entrypoint: ['/other'], Cmd: ['serve'] }), oldImage, NEW);
    expect(body).toMatchObject({ Entrypoint: ['/other'], Cmd: ['serve'] });
  });

  it('without the old image (removed since) copies the configuration whole', () => {
    const { body } = recreateRequest(container({ Env: ['PATH=/bin', 'A=1'], Cmd: ['serve'], Labels: { a: 'b' } }), undefined, NEW);
    expect(body).toMatchObject({ Env: ['PATH=/bin', 'A=1'], Cmd: ['serve'], Labels: { a: 'b' }, Image: NEW });
  });

  it('carries anonymous volumes over by name; binds and mounts stay as they were', () => {
    const { body } = recreateRequest(
      container({}, { Binds: ['data:/data', '/srv/conf:/conf:ro'], Mounts: [{ Type: 'tmpfs', Target: '/tmp' }], RestartPolicy: { Name: 'always' } }, {
        Mounts: [
          { Type: 'volume', Name: 'data', Destination: '/data', RW: true },
          { Type: 'bind', Source: '/srv/conf', Destination: '/conf', RW: false },
          { Type: 'volume', Name: 'a1b2c3', Destination: '/cache', RW: true },
        ],
      }),
      oldImage,
      NEW,
    );
    expect(body.HostConfig).toEqual({
      NetworkMode: 'none',
      Binds: ['data:/data', '/srv/conf:/conf:ro'],
      RestartPolicy: { Name: 'always' },
      Mounts: [{ Type: 'tmpfs', Target: '/tmp' }, { Type: 'volume', Source: 'a1b2c3', Target: '/cache', ReadOnly: false }],
    });
  });

  it('user networks: the primary one at create (without the old short-id alias), the others connected after', () => {
    const req = recreateRequest(
      container({}, { NetworkMode: 'shop' }, {
        NetworkSettings: {
          Networks: {
            shop: { Aliases: ['api', 'f00dcafe1234'], IPAMConfig: { IPv4Address: '10.1.0.5' }, IPAddress: '10.1.0.5', NetworkID: 'n1' },
            metrics: { Aliases: ['f00dcafe1234'], NetworkID: 'n2' },
          },
        },
      }),
      oldImage,
      NEW,
    );
    expect(req.body.NetworkingConfig).toEqual({ EndpointsConfig: { shop: { Aliases: ['api'], IPAMConfig: { IPv4Address: '10.1.0.5' } } } });
    expect(req.extraNetworks).toEqual([{ name: 'metrics', endpoint: {} }]);
  });

  it('host and none networks take no endpoint settings', () => {
    const req = recreateRequest(container({}, { NetworkMode: 'host' }, { NetworkSettings: { Networks: { host: { NetworkID: 'h' } } } }), oldImage, NEW);
    expect(req.body).not.toHaveProperty('NetworkingConfig');
    expect(req.extraNetworks).toEqual([]);
  });
});
