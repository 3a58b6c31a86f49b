/**
 * The runtime-spec features document (features.md): what this runtime implements, derived from the
 * tables the plan compiler and the seccomp compiler actually use, so it cannot drift from them.
 */
import { CAPABILITY_NAMES, MOUNT_OPTIONS, NAMESPACES } from '../plan/linux';
import { SECCOMP_ACTIONS, SECCOMP_FILTER_FLAGS, SECCOMP_OPERATORS } from '../seccomp/spec';
import { ARCHES } from '../seccomp/syscalls';
import { SUPPORTED_MAJOR } from '../spec/validate';
import { OCI_VERSION } from './state';

export interface FeaturesDocument {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean };
    seccomp: {
      enabled: boolean;
      actions: string[];
      operators: string[];
      archs: string[];
      knownFlags: string[];
      supportedFlags: string[];
    };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
  };
  annotations: Record<string, string>;
}

export function featuresDocument(): FeaturesDocument {
  const mountOptions = [...MOUNT_OPTIONS.entries()].filter(([, o]) => o.kind !== 'unsupported').map(([name]) => name);
  const idmap = MOUNT_OPTIONS.get('idmap');
  const flags = Object.keys(SECCOMP_FILTER_FLAGS);
  return {
    ociVersionMin: `${SUPPORTED_MAJOR}.0.0`,
    ociVersionMax: OCI_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions,
    linux: {
      namespaces: Object.keys(NAMESPACES),
      capabilities: [...CAPABILITY_NAMES],
      // The systemd driver manages the unit's cgroup through cgroupfs (no D-Bus); rdma limits are written on v1 and v2.
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: false, rdma: true },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS],
        operators: [...SECCOMP_OPERATORS],
        archs: Object.keys(ARCHES),
        knownFlags: flags,
        supportedFlags: flags,
      },
      // The plan carries the profile / label; the executor writes them before execve.
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: idmap !== undefined && idmap.kind !== 'unsupported' } },
    },
    annotations: {
      'io.github.berth.runtime': 'berth-oci',
    },
  };
}
