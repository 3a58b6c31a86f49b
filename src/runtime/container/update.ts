/** update: change the resource limits of a container's cgroup. */
import { BerthError } from '../errors';
import type { LinuxResources } from '../cgroups/spec';
import { loadContainer } from './load';
import type { RuntimeOptions } from './options';
import { assertCan } from './status';

export async function updateContainer(opts: RuntimeOptions, id: string, resources: LinuxResources): Promise<void> {
  const c = await loadContainer(opts, id);
  assertCan('update', c.status);
  if (c.cgroup === null) throw new BerthError('UNSUPPORTED', 'cannot update a container without cgroups');
  await c.cgroup.update(resources);
}
