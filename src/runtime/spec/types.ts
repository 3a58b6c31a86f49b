/**
 * The OCI runtime-spec config.json (v1.2, plus the v1.3 Linux fields netDevices and memoryPolicy), Linux
 * parts only. Field names and meanings follow the spec's config.md and config-linux.md. Numbers are
 * plain JSON numbers (uint64 values above 2^53 lose precision in JSON.parse; the compiler treats values
 * at or above 2^64-1 as "infinity" where that is meaningful, e.g. rlimits).
 *
 * `validateConfig` (spec/validate.ts) turns untrusted JSON into a `Spec`; nothing else should build one
 * from raw input.
 */
import type { LinuxResources } from '../cgroups/spec';
import type { LinuxSeccomp } from '../seccomp/spec';
import type { NamespaceType } from '../plan/linux';

export type { LinuxResources } from '../cgroups/spec';
export type { LinuxSeccomp } from '../seccomp/spec';
export type { NamespaceType } from '../plan/linux';

export interface Spec {
  ociVersion: string;
  process?: SpecProcess;
  root: SpecRoot;
  hostname?: string;
  domainname?: string;
  mounts?: SpecMount[];
  hooks?: SpecHooks;
  annotations?: Record<string, string>;
  linux?: SpecLinux;
}

export interface SpecRoot {
  /** Absolute, or relative to the bundle directory. */
  path: string;
  readonly?: boolean;
}

export interface SpecIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface SpecMount {
  /** Absolute path inside the container. */
  destination: string;
  /** Filesystem type; a dummy (often "none") for bind mounts, or "bind". */
  type?: string;
  /** Device or name, or a host path (absolute or relative to the bundle) for bind mounts. */
  source?: string;
  options?: string[];
  uidMappings?: SpecIdMapping[];
  gidMappings?: SpecIdMapping[];
}

export interface SpecConsoleSize {
  height: number;
  width: number;
}

export interface SpecUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export type CapabilitySet = 'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient';

export type SpecCapabilities = Partial<Record<CapabilitySet, string[]>>;

export interface SpecRlimit {
  /** RLIMIT_* name. */
  type: string;
  soft: number;
  hard: number;
}

export interface SpecScheduler {
  /** SCHED_* policy name. */
  policy: string;
  nice?: number;
  priority?: number;
  /** SCHED_FLAG_* names. */
  flags?: string[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

export interface SpecIoPriority {
  /** IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE. */
  class: string;
  /** 0 (highest) .. 7 (lowest). */
  priority: number;
}

export interface SpecCpuAffinity {
  /** CPU list such as "0-3,7": before the move into the container's cgroup. */
  initial?: string;
  /** CPU list: after the move into the container's cgroup. */
  final?: string;
}

export interface SpecProcess {
  terminal?: boolean;
  consoleSize?: SpecConsoleSize;
  user: SpecUser;
  args: string[];
  /** Windows only; accepted and ignored. */
  commandLine?: string;
  env?: string[];
  /** Absolute path inside the container. */
  cwd: string;
  capabilities?: SpecCapabilities;
  rlimits?: SpecRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  /** -1000 .. 1000; set from outside by the lifecycle, not by the executor. */
  oomScoreAdj?: number;
  scheduler?: SpecScheduler;
  selinuxLabel?: string;
  ioPriority?: SpecIoPriority;
  /** Applies to exec'd processes only, not to the container's init process. */
  execCPUAffinity?: SpecCpuAffinity;
}

export interface SpecHook {
  /** Absolute host path. */
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds, > 0. */
  timeout?: number;
}

export interface SpecHooks {
  /** Deprecated in favour of createRuntime/createContainer/startContainer. */
  prestart?: SpecHook[];
  createRuntime?: SpecHook[];
  createContainer?: SpecHook[];
  startContainer?: SpecHook[];
  poststart?: SpecHook[];
  poststop?: SpecHook[];
}

export interface SpecNamespace {
  type: NamespaceType;
  /** Absolute host path of a namespace file to join; absent = create a new namespace. */
  path?: string;
}

export interface SpecTimeOffset {
  secs?: number;
  nanosecs?: number;
}

export type DeviceType = 'c' | 'b' | 'u' | 'p';

export interface SpecDevice {
  /** Absolute path inside the container. */
  path: string;
  type: DeviceType;
  /** Required unless type is 'p'. */
  major?: number;
  minor?: number;
  /** Permission bits (a decimal number in JSON, e.g. 438 = 0o666). */
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface SpecNetDevice {
  name?: string;
}

export interface SpecIntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  schemata?: string[];
  enableMonitoring?: boolean;
  /** v1.1 .. v1.2 fields, replaced by enableMonitoring in v1.3. */
  enableCMT?: boolean;
  enableMBM?: boolean;
}

export interface SpecMemoryPolicy {
  /** MPOL_* mode name. */
  mode: string;
  nodes?: string;
  flags?: string[];
}

export interface SpecPersonality {
  /** 'LINUX' or 'LINUX32'. */
  domain: string;
  /** No flags are defined yet; must be empty. */
  flags?: string[];
}

export type RootfsPropagation =
  | 'shared'
  | 'slave'
  | 'private'
  | 'unbindable'
  | 'rshared'
  | 'rslave'
  | 'rprivate'
  | 'runbindable';

export interface SpecLinux {
  namespaces?: SpecNamespace[];
  uidMappings?: SpecIdMapping[];
  gidMappings?: SpecIdMapping[];
  /** Keyed by clock name: 'monotonic' or 'boottime'. */
  timeOffsets?: Record<string, SpecTimeOffset>;
  devices?: SpecDevice[];
  netDevices?: Record<string, SpecNetDevice>;
  cgroupsPath?: string;
  resources?: LinuxResources;
  rootfsPropagation?: RootfsPropagation;
  seccomp?: LinuxSeccomp;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: SpecIntelRdt;
  memoryPolicy?: SpecMemoryPolicy;
  personality?: SpecPersonality;
}

/** The spec version this runtime implements (reported by `features`, written by `spec`). */
export const OCI_VERSION = '1.2.0';
