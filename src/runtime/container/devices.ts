/**
 * The device cgroup rules a container actually gets: the spec's own rules, then allow rules for the
 * devices the runtime itself creates (the spec's default devices, /dev/ptmx and /dev/pts/* for
 * terminals) and for every linux.devices entry. Without these a config that starts with "deny all"
 * (as `spec` writes it) could not even create /dev/null.
 */
import type { LinuxDeviceCgroup, LinuxResources } from '../cgroups/spec';
import { DEFAULT_DEVICES } from '../plan/compile';
import type { Spec } from '../spec/types';

const PTMX: LinuxDeviceCgroup = { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' };
const PTS: LinuxDeviceCgroup = { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' };

/** linux.resources with the runtime's device allow rules appended (unchanged when the spec has no device rules). */
export function effectiveResources(spec: Spec): LinuxResources | undefined {
  const res = spec.linux?.resources;
  if (!res?.devices || res.devices.length === 0) return res;
  const extra: LinuxDeviceCgroup[] = DEFAULT_DEVICES.map((d) => ({ allow: true, type: 'c', major: d.major, minor: d.minor, access: 'rwm' }));
  extra.push(PTMX, PTS);
  for (const d of spec.linux?.devices ?? []) {
    if ((d.type === 'c' || d.type === 'u' || d.type === 'b') && d.major !== undefined && d.minor !== undefined) {
      extra.push({ allow: true, type: d.type === 'b' ? 'b' : 'c', major: d.major, minor: d.minor, access: 'rwm' });
    }
  }
  return { ...res, devices: [...res.devices, ...extra] };
}
