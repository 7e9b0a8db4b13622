/**
 * How a container is recreated on another image: the body of POST /containers/create built from
 * the old container's inspected configuration. Pure, so it is tested with tables.
 *
 * The inspected Config is the user's settings MERGED with the old image's (its Env, Cmd, Labels,
 * ExposedPorts...). Copied blindly, the old image's values would stick to the new image (an old
 * PATH, an old default command, an old version label). So whatever equals the old image's value
 * is left out and the new image supplies its own; what the user set is kept. Watchtower recreates
 * containers the same way (https://containrrr.dev/watchtower/).
 */
import type { ContainerInspect, ImageInspect } from './engine';

export interface CreateRequest {
  /** Body of POST /containers/create?name=... */
  body: Record<string, unknown>;
  /** Networks to connect after creation (the create call takes one endpoint on older engines). */
  extraNetworks: { name: string; endpoint: Record<string, unknown> }[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Config keys copied from the old container (Image is replaced; Hostname handled apart). */
const CONFIG_KEYS = [
  'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'OpenStdin', 'StdinOnce', 'Env', 'Cmd',
  'Entrypoint', 'Labels', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Healthcheck', 'StopSignal', 'StopTimeout',
  'ArgsEscaped', 'NetworkDisabled', 'MacAddress', 'Shell',
];

/** Keys whose value may have come from the old image: left out when equal to it. */
const FROM_IMAGE = ['User', 'Entrypoint', 'WorkingDir', 'Healthcheck', 'StopSignal', 'Shell', 'ArgsEscaped'];

function withoutImageEntries(list: string[] | null | undefined, image: string[] | null | undefined): string[] | undefined {
  if (!list) return undefined;
  const inherited = new Set(image ?? []);
  const own = list.filter((e) => !inherited.has(e));
  return own.length ? own : undefined;
}

function withoutImageKeys<T>(map: Record<string, T> | null | undefined, image: Record<string, T> | null | undefined): Record<string, T> | undefined {
  if (!map) return undefined;
  const own = Object.fromEntries(Object.entries(map).filter(([k, v]) => !(image && k in image && same(image[k], v))));
  return Object.keys(own).length ? own : undefined;
}

/** Endpoint settings worth keeping; the engine fills the rest (addresses, ids) itself. */
function endpointOf(containerId: string, ep: Record<string, unknown>): Record<string, unknown> {
  // The engine adds the container's short id as an alias; the new container gets its own.
  const aliases = ((ep.Aliases as string[] | null) ?? []).filter((a) => !containerId.startsWith(a));
  const out: Record<string, unknown> = {};
  if (ep.IPAMConfig) out.IPAMConfig = ep.IPAMConfig;
  if (ep.Links) out.Links = ep.Links;
  if (aliases.length) out.Aliases = aliases;
  if (ep.DriverOpts) out.DriverOpts = ep.DriverOpts;
  return out;
}

export function recreateRequest(old: ContainerInspect, oldImage: ImageInspect | undefined, image: string): CreateRequest {
  const cfg = old.Config ?? {};
  const img = (oldImage?.Config ?? {}) as Record<string, unknown>;
  const body: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) if (cfg[key] !== undefined && cfg[key] !== null) body[key] = cfg[key];
  // An explicit hostname is kept; the default one is the old container's short id and would lie.
  if (cfg.Hostname && !old.Id.startsWith(String(cfg.Hostname))) body.Hostname = cfg.Hostname;
  if (oldImage) {
    for (const key of FROM_IMAGE) if (key in body && same(body[key], img[key])) delete body[key];
    body.Env = withoutImageEntries(cfg.Env as string[], img.Env as string[]);
    body.Labels = withoutImageKeys(cfg.Labels as Record<string, string>, img.Labels as Record<string, string>);
    body.ExposedPorts = withoutImageKeys(cfg.ExposedPorts as Record<string, object>, img.ExposedPorts as Record<string, object>);
    body.Volumes = withoutImageKeys(cfg.Volumes as Record<string, object>, img.Volumes as Record<string, object>);
    // The engine drops the image's Cmd when --entrypoint is given, so a kept Entrypoint keeps its Cmd as is.
    if (!('Entrypoint' in body) && same(cfg.Cmd, img.Cmd)) delete body.Cmd;
    for (const key of ['Env', 'Labels', 'ExposedPorts', 'Volumes']) if (body[key] === undefined) delete body[key];
  }
  body.Image = image;

  const hostConfig: Record<string, unknown> = { ...old.HostConfig };
  // Anonymous volumes (an image VOLUME, `-v /data`) are not in Binds or Mounts: without this, the new
  // container would start on empty ones. Named and bind mounts are already in HostConfig.
  const declared = new Set<string>();
  for (const b of (hostConfig.Binds as string[] | null) ?? []) declared.add(b.split(':')[1]);
  for (const m of (hostConfig.Mounts as { Target?: string }[] | null) ?? []) if (m.Target) declared.add(m.Target);
  const carried = (old.Mounts ?? [])
    .filter((m) => m.Type === 'volume' && m.Name && m.Destination && !declared.has(m.Destination))
    .map((m) => ({ Type: 'volume', Source: m.Name, Target: m.Destination, ReadOnly: m.RW === false }));
  if (carried.length) hostConfig.Mounts = [...((hostConfig.Mounts as object[] | null) ?? []), ...carried];
  body.HostConfig = hostConfig;

  const networks = Object.entries(old.NetworkSettings?.Networks ?? {});
  const mode = String(hostConfig.NetworkMode ?? 'default');
  const primaryName = mode === 'default' ? 'bridge' : mode;
  const primary = networks.find(([name]) => name === primaryName) ?? networks[0];
  const extraNetworks: CreateRequest['extraNetworks'] = [];
  // host, none and container:<id> take no endpoint settings; user networks do.
  if (primary && !['host', 'none'].includes(primary[0]) && !mode.startsWith('container:')) {
    body.NetworkingConfig = { EndpointsConfig: { [primary[0]]: endpointOf(old.Id, primary[1]) } };
    for (const [name, ep] of networks) if (name !== primary[0]) extraNetworks.push({ name, endpoint: endpointOf(old.Id, ep) });
  }
  return { body, extraNetworks };
}
