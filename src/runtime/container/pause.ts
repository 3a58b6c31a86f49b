/** pause and resume: freeze and thaw the container's cgroup. */
import { BerthError } from '../errors';
import { loadContainer, type LoadedContainer } from './load';
import type { RuntimeOptions } from './options';
import { assertCan } from './status';
import type { CgroupManager } from './cgroup';

function needCgroup(c: LoadedContainer, what: string): CgroupManager {
  if (c.cgroup === null) throw new BerthError('UNSUPPORTED', `cannot ${what} a container without cgroups`);
  return c.cgroup;
}

export async function pauseContainer(opts: RuntimeOptions, id: string): Promise<void> {
  const c = await loadContainer(opts, id);
  assertCan('pause', c.status);
  await needCgroup(c, 'pause').freeze();
}

export async function resumeContainer(opts: RuntimeOptions, id: string): Promise<void> {
  const c = await loadContainer(opts, id);
  assertCan('resume', c.status);
  await needCgroup(c, 'resume').thaw();
}
