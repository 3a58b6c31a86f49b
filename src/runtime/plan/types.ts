/**
 * The plan: everything the C executor (native/berth-init) needs to start a container process or an
 * exec'd process, flattened so the C side makes no policy decisions and parses no JSON.
 *
 * TypeScript (plan/compile.ts) turns a validated OCI config.json into a Plan; plan/encode.ts
 * serialises it into the binary wire format described in native/PROTOCOL.md; berth-init decodes and
 * executes it. Every path in a Plan is absolute on the host, except mount destinations, masked and
 * read-only paths, device paths and symlink paths, which are absolute *inside the container* and are
 * resolved by the executor under the rootfs without following symlinks out of it.
 *
 * Numbers that are Linux constants (CLONE_*, MS_*, RLIMIT_*, capability numbers, SCHED_*, ...) are
 * resolved in TypeScript (see plan/linux.ts) so the executor never maps names.
 */

/** What the executor is asked to do. */
export type PlanMode =
  /** A new container: create namespaces, set up the rootfs, wait on the exec fifo, execve. */
  | 'create'
  /** A process inside an existing container: join its namespaces (by path), execve. */
  | 'exec';

export interface PlanNamespaceJoin {
  /** The CLONE_NEW* flag for this namespace type (e.g. 0x04000000 for CLONE_NEWUTS). */
  flag: number;
  /** Absolute host path of the namespace file (e.g. /proc/123/ns/net or a bind-mounted file). */
  path: string;
}

export interface PlanIdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

export interface PlanTimeOffset {
  /** 'monotonic' -> CLOCK_MONOTONIC (1), 'boottime' -> CLOCK_BOOTTIME (7) */
  clockId: number;
  secs: bigint;
  nanosecs: number;
}

/** One step of rootfs setup, executed in order after the rootfs itself is prepared. */
export interface PlanMount {
  /** Source: a host path for binds (absolute), or a device/name for other filesystems ('proc', 'tmpfs'). */
  source: string;
  /** Absolute destination inside the container; resolved under the rootfs, never following symlinks out. */
  destination: string;
  /** Filesystem type for mount(2); '' for bind mounts. */
  fstype: string;
  /** MS_* flags for the initial mount(2) call (MS_BIND, MS_REC, MS_NOSUID, MS_RDONLY, ...). */
  flags: number;
  /** Propagation changes applied after mounting, in order (each MS_SHARED|MS_REC style value). */
  propagation: number[];
  /** Filesystem-specific data (the comma-joined non-flag options), '' when none. */
  data: string;
  /** mount_setattr(2) attributes to set recursively (MOUNT_ATTR_RDONLY for 'rro', ...); 0 for none. */
  recAttrSet: number;
  /** mount_setattr(2) attributes to clear recursively; 0 for none. */
  recAttrClr: number;
  /**
   * For bind mounts only: whether the destination must be created as a file (source is not a directory)
   * or a directory. The compiler stats the source on the host to decide.
   */
  destType: 'dir' | 'file';
  /** cgroup mounts need special handling (v1: one mount per hierarchy, v2: cgroup2 mount). */
  kind: 'normal' | 'bind' | 'cgroup';
}

export interface PlanDevice {
  /** Absolute path inside the container (e.g. /dev/null). */
  path: string;
  /** S_IFCHR, S_IFBLK or S_IFIFO, or'ed with the permission bits (the mknod mode). */
  mode: number;
  major: number;
  minor: number;
  uid: number;
  gid: number;
  /** Bind-mount the host's node instead of mknod (required in a user namespace). */
  bind: boolean;
}

export interface PlanSymlink {
  /** What the link points to (e.g. /proc/self/fd). */
  target: string;
  /** Absolute path inside the container (e.g. /dev/fd). */
  path: string;
}

export interface PlanSysctl {
  /** Path under /proc/sys with dots turned into slashes (e.g. net/ipv4/ip_forward). */
  path: string;
  value: string;
}

export interface PlanRlimit {
  /** RLIMIT_* number. */
  resource: number;
  soft: bigint;
  hard: bigint;
}

/** Five 64-bit capability masks (bit N = capability number N). */
export interface PlanCapabilities {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

export interface PlanScheduler {
  /** SCHED_* policy number. */
  policy: number;
  nice: number;
  priority: number;
  /** SCHED_FLAG_* bits. */
  flags: bigint;
  runtime: bigint;
  deadline: bigint;
  period: bigint;
}

export interface PlanIoPriority {
  /** IOPRIO_CLASS_* number. */
  ioClass: number;
  priority: number;
}

export interface PlanSeccomp {
  /** The compiled classic-BPF program: 8 bytes per instruction, host byte order (see seccomp/). */
  program: Uint8Array;
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(SECCOMP_SET_MODE_FILTER). */
  flags: number;
  /** When the program contains SECCOMP_RET_USER_NOTIF: the unix socket path to send the listener fd to. */
  listenerPath: string;
  /** Opaque metadata sent with the listener fd (the spec's listenerMetadata). */
  listenerMetadata: string;
}

export interface PlanHook {
  path: string;
  /** argv, including argv[0]. */
  args: string[];
  env: string[];
  /** Seconds; 0 means no timeout. */
  timeout: number;
}

export interface PlanUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** -1 when the config does not set one (keep the executor's inherited umask of 0022). */
  umask: number;
}

export interface PlanProcess {
  args: string[];
  env: string[];
  cwd: string;
  user: PlanUser;
  terminal: boolean;
  /** Unix socket path to send the pty master to via SCM_RIGHTS ('' when none). */
  consoleSocket: string;
  /** Initial console size (rows, columns); 0 when not given. */
  consoleHeight: number;
  consoleWidth: number;
  rlimits: PlanRlimit[];
  capabilities: PlanCapabilities;
  noNewPrivileges: boolean;
  /** null when not set. */
  scheduler: PlanScheduler | null;
  ioPriority: PlanIoPriority | null;
  /** CPU affinity masks as lists of CPU numbers; empty list = leave alone. */
  cpuAffinityInitial: number[];
  cpuAffinityFinal: number[];
  /** personality(2) domain value, -1 when not set. */
  personality: number;
  /** Written to /proc/self/attr/apparmor/exec (as "exec <profile>") before execve; '' when none. */
  apparmorProfile: string;
  /** Written to /proc/self/attr/exec before execve; '' when none. */
  selinuxLabel: string;
  /** null = no seccomp filter. */
  seccomp: PlanSeccomp | null;
}

/** How the executor creates the exec fifo (Plan.execFifoCreate). */
export interface PlanFifoCreate {
  /** Permission bits (e.g. 0o622). */
  mode: number;
  uid: number;
  gid: number;
}

export interface Plan {
  mode: PlanMode;
  /**
   * The first executor process stays, reaps the container process and exits with its status (and,
   * with a terminal but no console socket, relays stdio to the pty). false = it exits once the
   * container process is set up (create, run --detach, exec --detach).
   */
  foreground: boolean;

  /** CLONE_NEW* flags for namespaces to create. */
  cloneFlags: number;
  /** Namespaces to join by path, in the order given (the executor joins the user namespace first). */
  joinNamespaces: PlanNamespaceJoin[];
  /**
   * Whether the parent (berth, in TypeScript) writes uid_map/gid_map for a new user namespace after
   * the child is cloned. The executor waits for the parent's go-ahead before doing anything that
   * needs ids to be mapped. Kept here so the executor knows to call setresuid(0) after the maps.
   */
  userNamespaceMapped: boolean;
  uidMappings: PlanIdMapping[];
  gidMappings: PlanIdMapping[];
  /** Written to /proc/self/timens_offsets before the child is created; empty = none. */
  timeOffsets: PlanTimeOffset[];

  /** '' = leave unchanged. */
  hostname: string;
  domainname: string;

  /** Absolute host path of the root filesystem ('' in exec mode). */
  rootfs: string;
  rootReadonly: boolean;
  /** MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC) for the rootfs; 0 = MS_SLAVE|MS_REC default. */
  rootfsPropagation: number;
  /** Use MS_MOVE + chroot instead of pivot_root (--no-pivot). */
  noPivot: boolean;
  mounts: PlanMount[];
  devices: PlanDevice[];
  /** Symlinks created after devices (/dev/fd, /dev/stdin, /dev/ptmx -> pts/ptmx, ...). */
  symlinks: PlanSymlink[];
  maskedPaths: string[];
  readonlyPaths: string[];
  sysctls: PlanSysctl[];

  /** Absolute host path of the exec fifo; '' when the process starts without waiting (exec mode). */
  execFifo: string;
  /**
   * When set, the executor makes the exec fifo itself (mknod S_IFIFO, then chown, then chmod to
   * `mode`, umask-independent) before opening it, so no `mkfifo` program is spawned and the fifo
   * exists by the time it is opened. Absent: the fifo must already exist.
   */
  execFifoCreate?: PlanFifoCreate;
  /** Number of extra fds after stdio (3 .. 3+preserveFds-1) that stay open across execve. */
  preserveFds: number;
  /** Join a fresh session keyring (false = --no-new-keyring). */
  newKeyring: boolean;

  /** Hooks run by the executor inside the container's namespaces (state JSON arrives with GO). */
  createContainerHooks: PlanHook[];
  startContainerHooks: PlanHook[];

  process: PlanProcess;
}
