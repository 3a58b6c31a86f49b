/**
 * The config.json that `berth-oci spec` writes: a minimal, locked-down container running `sh` on a
 * terminal, in the spirit of `runc spec`. With `rootless`, the container runs in a user namespace that
 * maps root to the calling user, shares the host's network namespace and bind-mounts the host's /sys
 * (a new sysfs cannot be mounted without owning the network namespace).
 */
import { OCI_VERSION } from './types';
import type { Spec, SpecMount, SpecNamespace } from './types';

export interface DefaultSpecOptions {
  rootless?: boolean;
  /** Host uid/gid mapped to root in the rootless variant (default: the calling process's ids). */
  uid?: number;
  gid?: number;
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

export const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'];

export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function defaultMounts(rootless: boolean): SpecMount[] {
  const devpts: SpecMount = {
    destination: '/dev/pts',
    type: 'devpts',
    source: 'devpts',
    // gid=5 (tty) cannot be used when only one gid is mapped.
    options: rootless
      ? ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']
      : ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
  };
  const sys: SpecMount = rootless
    ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] };
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    devpts,
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    sys,
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

export function defaultSpec(opts: DefaultSpecOptions = {}): Spec {
  const rootless = opts.rootless === true;
  const namespaces: SpecNamespace[] = rootless
    ? [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }, { type: 'user' }]
    : [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }];
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: [...DEFAULT_ENV],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'berth',
    mounts: defaultMounts(rootless),
    linux: {
      namespaces,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
  const linux = spec.linux ?? {};
  if (rootless) {
    const uid = opts.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
    const gid = opts.gid ?? (typeof process.getgid === 'function' ? process.getgid() : 0);
    linux.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: gid, size: 1 }];
  } else {
    // Deny every device by default; the runtime adds the default devices to the allow list.
    linux.resources = { devices: [{ allow: false, access: 'rwm' }] };
  }
  return spec;
}
