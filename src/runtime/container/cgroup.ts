/** The container's cgroup, as the lifecycle sees it: built from the record, absent when disabled. */
import { createCgroupManager, type CgroupManager } from '../cgroups/manager';
import type { CgroupDriverName } from './options';

export type { CgroupManager };

/** null when cgroup management is disabled for this container. */
export function containerCgroup(id: string, cgroupsPath: string, driver: CgroupDriverName | string): CgroupManager | null {
  if (driver === 'disabled') return null;
  return createCgroupManager({ cgroupsPath, containerId: id, driver: driver === 'systemd' ? 'systemd' : 'cgroupfs' });
}
