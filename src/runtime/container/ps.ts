/** ps: the pids of every process in the container's cgroup. */
import { BerthError } from '../errors';
import { loadContainer } from './load';
import type { RuntimeOptions } from './options';

export async function containerPids(opts: RuntimeOptions, id: string): Promise<number[]> {
  const c = await loadContainer(opts, id);
  if (c.cgroup === null) {
    // Without cgroups only the init process is known.
    return c.status === 'stopped' ? [] : [c.record.pid];
  }
  if (!(await c.cgroup.exists())) throw new BerthError('NOT_FOUND', `cgroup of container ${id} does not exist`);
  return [...(await c.cgroup.pids())].sort((a, b) => a - b);
}
