/**
 * `linux.resources` of the OCI runtime-spec (v1.2), as it appears in config.json. Field names and
 * meanings follow the spec's config-linux.md; every field is optional (absent = leave unchanged).
 *
 * Numbers are plain JSON numbers. Memory values use -1 for "unlimited". `memory.swap` is the
 * memory+swap total (cgroup v1 semantics); the v2 manager converts it (swap.max = swap - limit).
 */

/** One device cgroup rule. type 'a' (all), 'c' or 'b'; major/minor absent or -1 = wildcard. */
export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: 'a' | 'c' | 'b' | string;
  major?: number | null;
  minor?: number | null;
  /** Any combination of 'r', 'w', 'm'; absent = 'rwm'. */
  access?: string;
}

export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  /** memory+swap total limit (v1 memsw semantics); -1 = unlimited. */
  swap?: number;
  /** Deprecated kernel memory limit; ignored (with a note) where the kernel no longer supports it. */
  kernel?: number;
  /** Deprecated kernel TCP buffer limit; ignored (with a note) where unsupported. */
  kernelTCP?: number;
  /** 0..100 (v1 only). */
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  /** On update: refuse a memory limit below the current usage. */
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: number;
  /** CFS quota in microseconds per period; -1 (or 0 on update) = unlimited. */
  quota?: number;
  /** CFS burst in microseconds. */
  burst?: number;
  /** CFS period in microseconds. */
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  /** cpuset list, e.g. "0-3,6". */
  cpus?: string;
  /** memory node list, e.g. "0". */
  mems?: string;
  /** SCHED_IDLE for the cgroup: 0 or 1. */
  idle?: number;
}

export interface LinuxPids {
  /** Maximum number of tasks; negative = unlimited ("max"); 0 = leave unchanged (as runc does). */
  limit: number;
}

export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface LinuxBlockIO {
  /** 10..1000 (blkio scale; converted for v2 io.weight). 0 = unset. */
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  /** e.g. "2MB", "1GB", "64KB". */
  pageSize: string;
  limit: number;
}

export interface LinuxInterfacePriority {
  name: string;
  priority: number;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: LinuxInterfacePriority[];
}

export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  /** Keyed by RDMA device name (e.g. "mlx5_1"). */
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 only: file name (e.g. "memory.high") -> value, written verbatim. */
  unified?: Record<string, string>;
}
