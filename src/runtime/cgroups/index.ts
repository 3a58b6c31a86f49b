/**
 * cgroupfs library: OCI linux.resources applied through cgroup v1 or v2 files. The C executor never
 * touches cgroups; the TypeScript side places the container pid with apply().
 *
 *   const cg = createCgroupManager({ cgroupsPath: spec.linux?.cgroupsPath ?? '', containerId, driver: 'cgroupfs' });
 *   await cg.create();                       // before the executor reports the pid
 *   await cg.set(spec.linux?.resources ?? {});
 *   await cg.apply(pid);                     // when the executor sends PID (PROTOCOL.md step 3)
 *   ...; await cg.killAll('SIGKILL'); await cg.destroy();
 *
 * Hybrid hosts (this one) are driven as v1. On v2, device rules other than "allow everything" are
 * refused with UNSUPPORTED (enforcement needs an eBPF program, not written yet). Settings a kernel
 * no longer honours (kernel memory; v1-only knobs on v2) are skipped with a note in `warnings`.
 * The systemd driver needs a running systemd and then manages the unit's cgroup through cgroupfs
 * (no D-Bus client: no transient unit is registered).
 */
export * from './spec';
export * from './stats';
export {
  CgroupDriver,
  CgroupManager,
  CgroupManagerOptions,
  CgroupMode,
  DEFAULT_CGROUP_ROOT,
  FreezerState,
  createCgroupManager,
  detectCgroupMode,
  expandSlice,
  normalizeCgroupsPath,
  systemdCgroupPath,
  systemdRunning,
} from './manager';
export { blkioWeightToIoWeight, devicesAllowAll, deviceRuleString, sharesToWeight, swapToV2 } from './convert';
export { parseCgroupMountinfo, parseProcCgroup } from './mountinfo';
export { observeCgroupWrites } from './fsutil';
