/** The container's cgroup, as the lifecycle sees it: built from the record, absent when disabled. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCgroupManager, hierarchyDir, type CgroupManager } from '../cgroups/manager';
import { parseCgroupMountinfo, parseProcCgroup, type CgroupMounts } from '../cgroups/mountinfo';
import type { CgroupDriverName } from './options';

export type { CgroupManager };

/** null when cgroup management is disabled for this container. */
export function containerCgroup(id: string, cgroupsPath: string, driver: CgroupDriverName | string): CgroupManager | null {
  if (driver === 'disabled') return null;
  return createCgroupManager({ cgroupsPath, containerId: id, driver: driver === 'systemd' ? 'systemd' : 'cgroupfs' });
}

/**
 * Moves `pid` back into this process's own cgroups, in the hierarchies the container's manager uses
 * (v1: every mounted v1 hierarchy; v2: the unified one). create places the executor in the
 * container's cgroups before it clones the container process; a foreground executor that stays as
 * the container's parent is moved out again once the container process exists, so that it does not
 * count as a container process (ps, kill --all, pids.max, freezer).
 */
export async function moveToOwnCgroups(pid: number, mode: CgroupManager['mode']): Promise<void> {
  if (mode === 'disabled') return;
  // Asynchronous on purpose: on cgroup v1 the first cgroup.procs write of a burst waits for an RCU
  // grace period (milliseconds), and the event loop must stay free for `start` meanwhile.
  await Promise.all(ownCgroupDirs(mode).map((d) => fs.promises.writeFile(path.join(d, 'cgroup.procs'), String(pid))));
}

/**
 * Starts the RCU grace period that the kernel's cgroup attach lock (cgroup_threadgroup_rwsem, global
 * to all hierarchies) waits for when no attach happened recently, so that create's own placement,
 * a few milliseconds later, finds the lock already in writer mode and does not wait (on this host the
 * wait is 10-20 ms: bench/oci-startup.md). It re-attaches this process to the cgroup it is already
 * in, in one hierarchy: a no-op for the process, made in the thread pool so nothing waits for it.
 * Hosts that mount cgroupfs with `favordynmods` never wait; there this costs one write.
 */
export function warmCgroupAttach(): Promise<void> {
  return (async () => {
    const mounts = parseCgroupMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'), '/sys/fs/cgroup');
    const dirs = ownCgroupDirs(mounts.v1.length > 0 ? 'v1' : 'v2', mounts);
    if (dirs.length > 0) await fs.promises.writeFile(path.join(dirs[0], 'cgroup.procs'), String(process.pid));
  })();
}

/** This process's own cgroup directory in each hierarchy a manager of `mode` uses. */
function ownCgroupDirs(mode: 'v1' | 'v2', known?: CgroupMounts): string[] {
  const root = '/sys/fs/cgroup';
  const mounts = known ?? parseCgroupMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'), root);
  const self = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
  const dirs: string[] = [];
  if (mode === 'v2') {
    if (mounts.v2 && self[''] !== undefined) dirs.push(hierarchyDir(mounts.v2.mountPoint, mounts.v2.root, self['']));
  } else {
    for (const h of mounts.v1) {
      const own = self[h.controllers[0]];
      if (own !== undefined) dirs.push(hierarchyDir(h.mountPoint, h.root, own));
    }
  }
  return dirs;
}
