/**
 * What an operator does by hand on Marathon (curl): read the app, change its image, PUT it back,
 * then wait until the double's deployment is over. Used by the release-point suites to move the
 * fleet outside the rollback tool.
 */
import type { MarathonDouble } from '../doubles/marathon-double';

const READ_ONLY = ['version', 'versionInfo', 'tasks', 'deployments', 'tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy', 'lastTaskFailure', 'readinessCheckResults', 'taskStats'];

export async function deployByHand(m: MarathonDouble, id: string, image: string): Promise<void> {
  const got = (await (await fetch(`${m.url}/v2/apps${id}`)).json()) as { app: Record<string, unknown> };
  const def = got.app;
  for (const k of READ_ONLY) delete def[k];
  (def.container as { docker: { image: string } }).docker.image = image;
  const put = await fetch(`${m.url}/v2/apps${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(def) });
  if (put.status !== 200) throw new Error(`PUT ${id}: ${put.status} ${await put.text()}`);
  for (let i = 0; i < 200; i++) {
    const d = (await (await fetch(`${m.url}/v2/deployments`)).json()) as unknown[];
    if (d.length === 0 && m.running.get(id) === image) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`deployment of ${image} to ${id} did not finish`);
}
