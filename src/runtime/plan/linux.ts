/**
 * Linux constants the plan compiler resolves so the executor never maps names. Values are from the
 * kernel's UAPI headers (linux/sched.h, linux/mount.h, linux/capability.h, asm-generic/resource.h,
 * linux/ioprio.h, linux/personality.h, linux/time.h, sys/stat.h).
 */

// ---- namespaces -----------------------------------------------------------------------------------

export const CLONE_NEWTIME = 0x00000080;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface NamespaceInfo {
  flag: number;
  /** The file name under /proc/PID/ns/ (and the prefix readlink shows: "net:[4026531840]"). */
  procName: string;
}

/** OCI namespace type -> CLONE_NEW* flag and /proc/PID/ns name. */
export const NAMESPACES: Readonly<Record<NamespaceType, NamespaceInfo>> = {
  pid: { flag: CLONE_NEWPID, procName: 'pid' },
  network: { flag: CLONE_NEWNET, procName: 'net' },
  mount: { flag: CLONE_NEWNS, procName: 'mnt' },
  ipc: { flag: CLONE_NEWIPC, procName: 'ipc' },
  uts: { flag: CLONE_NEWUTS, procName: 'uts' },
  user: { flag: CLONE_NEWUSER, procName: 'user' },
  cgroup: { flag: CLONE_NEWCGROUP, procName: 'cgroup' },
  time: { flag: CLONE_NEWTIME, procName: 'time' },
};

export function isNamespaceType(s: string): s is NamespaceType {
  return Object.prototype.hasOwnProperty.call(NAMESPACES, s);
}

// ---- mount(2) flags -------------------------------------------------------------------------------

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_SYNCHRONOUS = 0x10;
export const MS_REMOUNT = 0x20;
export const MS_MANDLOCK = 0x40;
export const MS_DIRSYNC = 0x80;
export const MS_NOSYMFOLLOW = 0x100;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_SILENT = 0x8000;
export const MS_POSIXACL = 0x10000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_RELATIME = 0x200000;
export const MS_I_VERSION = 0x800000;
export const MS_STRICTATIME = 0x1000000;
export const MS_LAZYTIME = 0x2000000;

// ---- mount_setattr(2) attributes ------------------------------------------------------------------

export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
/** The three-valued atime field: RELATIME (0), NOATIME or STRICTATIME. */
export const MOUNT_ATTR__ATIME = 0x70;
export const MOUNT_ATTR_RELATIME = 0x0;
export const MOUNT_ATTR_NOATIME = 0x10;
export const MOUNT_ATTR_STRICTATIME = 0x20;
export const MOUNT_ATTR_NODIRATIME = 0x80;
export const MOUNT_ATTR_IDMAP = 0x100000;
export const MOUNT_ATTR_NOSYMFOLLOW = 0x200000;

/** What one mount option string means. */
export type MountOption =
  /** A mount(2) flag: set it, or clear it (e.g. "rw" clears MS_RDONLY). */
  | { kind: 'flag'; flag: number; clear: boolean }
  /** A propagation change applied after the mount (MS_SHARED|MS_REC for "rshared", ...). */
  | { kind: 'propagation'; value: number }
  /** A recursive mount_setattr(2) attribute: bits to set and bits to clear. */
  | { kind: 'recattr'; set: number; clr: number }
  /** Recognised by the spec, refused by this runtime (message says why). */
  | { kind: 'unsupported'; reason: string };

const flag = (f: number, clear = false): MountOption => ({ kind: 'flag', flag: f, clear });
const prop = (value: number): MountOption => ({ kind: 'propagation', value });
const rattr = (set: number, clr: number): MountOption => ({ kind: 'recattr', set, clr });
const atime = (set: number): MountOption => rattr(set, MOUNT_ATTR__ATIME);

/**
 * Mount option name -> meaning. Options not in this table are filesystem-specific and go into the
 * mount(2) data argument.
 */
export const MOUNT_OPTIONS: ReadonlyMap<string, MountOption> = new Map<string, MountOption>([
  ['defaults', flag(0)],
  ['ro', flag(MS_RDONLY)],
  ['rw', flag(MS_RDONLY, true)],
  ['nosuid', flag(MS_NOSUID)],
  ['suid', flag(MS_NOSUID, true)],
  ['nodev', flag(MS_NODEV)],
  ['dev', flag(MS_NODEV, true)],
  ['noexec', flag(MS_NOEXEC)],
  ['exec', flag(MS_NOEXEC, true)],
  ['sync', flag(MS_SYNCHRONOUS)],
  ['async', flag(MS_SYNCHRONOUS, true)],
  ['dirsync', flag(MS_DIRSYNC)],
  ['remount', flag(MS_REMOUNT)],
  ['mand', flag(MS_MANDLOCK)],
  ['nomand', flag(MS_MANDLOCK, true)],
  ['atime', flag(MS_NOATIME, true)],
  ['noatime', flag(MS_NOATIME)],
  ['diratime', flag(MS_NODIRATIME, true)],
  ['nodiratime', flag(MS_NODIRATIME)],
  ['relatime', flag(MS_RELATIME)],
  ['norelatime', flag(MS_RELATIME, true)],
  ['strictatime', flag(MS_STRICTATIME)],
  ['nostrictatime', flag(MS_STRICTATIME, true)],
  ['iversion', flag(MS_I_VERSION)],
  ['noiversion', flag(MS_I_VERSION, true)],
  ['lazytime', flag(MS_LAZYTIME)],
  ['nolazytime', flag(MS_LAZYTIME, true)],
  ['silent', flag(MS_SILENT)],
  ['loud', flag(MS_SILENT, true)],
  ['nosymfollow', flag(MS_NOSYMFOLLOW)],
  ['symfollow', flag(MS_NOSYMFOLLOW, true)],
  ['bind', flag(MS_BIND)],
  ['rbind', flag(MS_BIND | MS_REC)],
  ['private', prop(MS_PRIVATE)],
  ['rprivate', prop(MS_PRIVATE | MS_REC)],
  ['shared', prop(MS_SHARED)],
  ['rshared', prop(MS_SHARED | MS_REC)],
  ['slave', prop(MS_SLAVE)],
  ['rslave', prop(MS_SLAVE | MS_REC)],
  ['unbindable', prop(MS_UNBINDABLE)],
  ['runbindable', prop(MS_UNBINDABLE | MS_REC)],
  ['rro', rattr(MOUNT_ATTR_RDONLY, 0)],
  ['rrw', rattr(0, MOUNT_ATTR_RDONLY)],
  ['rnosuid', rattr(MOUNT_ATTR_NOSUID, 0)],
  ['rsuid', rattr(0, MOUNT_ATTR_NOSUID)],
  ['rnodev', rattr(MOUNT_ATTR_NODEV, 0)],
  ['rdev', rattr(0, MOUNT_ATTR_NODEV)],
  ['rnoexec', rattr(MOUNT_ATTR_NOEXEC, 0)],
  ['rexec', rattr(0, MOUNT_ATTR_NOEXEC)],
  ['rnodiratime', rattr(MOUNT_ATTR_NODIRATIME, 0)],
  ['rdiratime', rattr(0, MOUNT_ATTR_NODIRATIME)],
  ['rnosymfollow', rattr(MOUNT_ATTR_NOSYMFOLLOW, 0)],
  ['rsymfollow', rattr(0, MOUNT_ATTR_NOSYMFOLLOW)],
  // The atime field is three-valued: the kernel wants the whole field cleared whenever one is set.
  ['rnoatime', atime(MOUNT_ATTR_NOATIME)],
  ['ratime', atime(MOUNT_ATTR_RELATIME)],
  ['rrelatime', atime(MOUNT_ATTR_RELATIME)],
  ['rnorelatime', atime(MOUNT_ATTR_STRICTATIME)],
  ['rstrictatime', atime(MOUNT_ATTR_STRICTATIME)],
  ['rnostrictatime', atime(MOUNT_ATTR_RELATIME)],
  ['idmap', { kind: 'unsupported', reason: 'id-mapped mounts ("idmap") are not supported by this runtime' }],
  ['ridmap', { kind: 'unsupported', reason: 'id-mapped mounts ("ridmap") are not supported by this runtime' }],
  ['tmpcopyup', { kind: 'unsupported', reason: '"tmpcopyup" is not supported by this runtime' }],
]);

/** rootfsPropagation value -> propagation flags applied recursively to the container's "/". */
export const ROOTFS_PROPAGATION: Readonly<Record<string, number>> = {
  shared: MS_SHARED | MS_REC,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE | MS_REC,
  rslave: MS_SLAVE | MS_REC,
  private: MS_PRIVATE | MS_REC,
  rprivate: MS_PRIVATE | MS_REC,
  unbindable: MS_UNBINDABLE | MS_REC,
  runbindable: MS_UNBINDABLE | MS_REC,
};

// ---- rlimits --------------------------------------------------------------------------------------

export const RLIMITS: Readonly<Record<string, number>> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** RLIM_INFINITY as the kernel sees it (all ones, 64 bits). */
export const RLIM_INFINITY = 0xffffffffffffffffn;

// ---- capabilities ---------------------------------------------------------------------------------

/** Capability names in number order: CAPABILITIES[n] is capability n. */
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN', // 0
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL', // 5
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE', // 10
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', // 15
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', // 20
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', // 25
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL', // 30
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM', // 35
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE', // 40
];

export const CAPABILITIES: ReadonlyMap<string, number> = new Map(CAPABILITY_NAMES.map((n, i) => [n, i]));

/** Highest capability number known here (CAP_LAST_CAP). */
export const CAP_LAST_CAP = CAPABILITY_NAMES.length - 1;

// ---- scheduler ------------------------------------------------------------------------------------

export const SCHED_POLICIES: Readonly<Record<string, number>> = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
};

export const SCHED_FLAGS: Readonly<Record<string, bigint>> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01n,
  SCHED_FLAG_RECLAIM: 0x02n,
  SCHED_FLAG_DL_OVERRUN: 0x04n,
  SCHED_FLAG_KEEP_POLICY: 0x08n,
  SCHED_FLAG_KEEP_PARAMS: 0x10n,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20n,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40n,
};

// ---- I/O priority ---------------------------------------------------------------------------------

export const IOPRIO_CLASSES: Readonly<Record<string, number>> = {
  IOPRIO_CLASS_RT: 1,
  IOPRIO_CLASS_BE: 2,
  IOPRIO_CLASS_IDLE: 3,
};

// ---- personality ----------------------------------------------------------------------------------

export const PERSONALITY_DOMAINS: Readonly<Record<string, number>> = {
  LINUX: 0x0000,
  LINUX32: 0x0008,
};

// ---- clocks (time namespace offsets) --------------------------------------------------------------

export const CLOCK_MONOTONIC = 1;
export const CLOCK_BOOTTIME = 7;

export const TIME_NS_CLOCKS: Readonly<Record<string, number>> = {
  monotonic: CLOCK_MONOTONIC,
  boottime: CLOCK_BOOTTIME,
};

// ---- file types (mknod modes) ---------------------------------------------------------------------

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** OCI device type -> S_IF* bits ('u' is an unbuffered character device). */
export const DEVICE_TYPES: Readonly<Record<string, number>> = {
  c: S_IFCHR,
  u: S_IFCHR,
  b: S_IFBLK,
  p: S_IFIFO,
};
