/**
 * Cgroup statistics in the shape of `runc events --stats` (runc's types/events.go): property names
 * are the JSON keys runc emits, so `JSON.stringify(statsToRuncJson(s))` is what runc prints under
 * "data". Units: CPU times in nanoseconds, memory in bytes.
 */
import { parseUint } from './fsutil';

export interface CpuUsage {
  total: number;
  percpu: number[];
  percpu_kernel: number[];
  percpu_user: number[];
  kernel: number;
  user: number;
}

export interface CpuThrottling {
  periods: number;
  throttledPeriods: number;
  throttledTime: number;
}

export interface CpuSetStats {
  cpus: number[];
  cpu_exclusive: number;
  mems: number[];
  mem_hardwall: number;
  mem_exclusive: number;
  memory_migrate: number;
  memory_spread_page: number;
  memory_spread_slab: number;
  memory_pressure: number;
  sched_load_balance: number;
  sched_relax_domain_level: number;
}

export interface MemoryEntry {
  limit: number;
  usage: number;
  max: number;
  failcnt: number;
}

export interface MemoryEventCount {
  low: number;
  high: number;
  max: number;
  oom: number;
  oom_kill: number;
}

export interface MemoryStats {
  cache: number;
  usage: MemoryEntry;
  swap: MemoryEntry;
  kernel: MemoryEntry;
  kernelTCP: MemoryEntry;
  raw: Record<string, number>;
  event_count: MemoryEventCount;
}

export interface PidsStats {
  current: number;
  /** 0 = unlimited ("max"), as runc reports it. */
  limit: number;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface BlkioStats {
  ioServiceBytesRecursive: BlkioEntry[];
  ioServicedRecursive: BlkioEntry[];
  ioQueueRecursive: BlkioEntry[];
  ioServiceTimeRecursive: BlkioEntry[];
  ioWaitTimeRecursive: BlkioEntry[];
  ioMergedRecursive: BlkioEntry[];
  ioTimeRecursive: BlkioEntry[];
  sectorsRecursive: BlkioEntry[];
}

export interface HugetlbStats {
  usage: number;
  max: number;
  failcnt: number;
}

export interface CgroupStats {
  cpu: { usage: CpuUsage; throttling: CpuThrottling };
  cpuset: CpuSetStats;
  memory: MemoryStats;
  pids: PidsStats;
  blkio: BlkioStats;
  /** Keyed by page size as runc names it ("2MB", "1GB"). */
  hugetlb: Record<string, HugetlbStats>;
}

/** The unsigned 64-bit maximum as a JS number (what runc prints for "max" limits, rounded). */
export const UINT64_MAX = 18446744073709551615;

export function emptyMemoryEntry(): MemoryEntry {
  return { limit: 0, usage: 0, max: 0, failcnt: 0 };
}

export function emptyStats(): CgroupStats {
  return {
    cpu: {
      usage: { total: 0, percpu: [], percpu_kernel: [], percpu_user: [], kernel: 0, user: 0 },
      throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 },
    },
    cpuset: {
      cpus: [],
      cpu_exclusive: 0,
      mems: [],
      mem_hardwall: 0,
      mem_exclusive: 0,
      memory_migrate: 0,
      memory_spread_page: 0,
      memory_spread_slab: 0,
      memory_pressure: 0,
      sched_load_balance: 0,
      sched_relax_domain_level: 0,
    },
    memory: {
      cache: 0,
      usage: emptyMemoryEntry(),
      swap: emptyMemoryEntry(),
      kernel: emptyMemoryEntry(),
      kernelTCP: emptyMemoryEntry(),
      raw: {},
      event_count: { low: 0, high: 0, max: 0, oom: 0, oom_kill: 0 },
    },
    pids: { current: 0, limit: 0 },
    blkio: {
      ioServiceBytesRecursive: [],
      ioServicedRecursive: [],
      ioQueueRecursive: [],
      ioServiceTimeRecursive: [],
      ioWaitTimeRecursive: [],
      ioMergedRecursive: [],
      ioTimeRecursive: [],
      sectorsRecursive: [],
    },
    hugetlb: {},
  };
}

/** "0-3,6,8-9" -> [0,1,2,3,6,8,9]. */
export function parseCpuList(s: string | undefined): number[] {
  const out: number[] = [];
  if (!s) return out;
  for (const part of s.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let i = a; i <= b && i - a < 65536; i++) out.push(i);
  }
  return out;
}

/** Space-separated numbers (cpuacct.usage_percpu) -> array. */
export function parseNumberList(s: string | undefined): number[] {
  if (!s) return [];
  return s
    .trim()
    .split(/\s+/)
    .filter((x) => x !== '')
    .map((x) => parseUint(x));
}

/**
 * v1 blkio "recursive" files: lines "8:0 Read 4096", "8:0 Total 8192", and a final "Total N".
 * Per-device totals are kept (runc keeps them), the grand total is dropped.
 */
export function parseBlkioFile(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  if (!text) return out;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    if (f.length === 3) out.push({ major: Number(dev[1]), minor: Number(dev[2]), op: f[1], value: parseUint(f[2]) });
    else if (f.length === 2) out.push({ major: Number(dev[1]), minor: Number(dev[2]), op: '', value: parseUint(f[1]) });
  }
  return out;
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" -> runc's Read/Write/Discard entries. */
export function parseIoStat(text: string | undefined): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  if (!text) return { bytes, ios };
  const ops: Record<string, [BlkioEntry[], string]> = {
    rbytes: [bytes, 'Read'],
    wbytes: [bytes, 'Write'],
    dbytes: [bytes, 'Discard'],
    rios: [ios, 'Read'],
    wios: [ios, 'Write'],
    dios: [ios, 'Discard'],
  };
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    for (const kv of f.slice(1)) {
      const eq = kv.indexOf('=');
      if (eq < 0) continue;
      const target = ops[kv.slice(0, eq)];
      if (!target) continue;
      target[0].push({ major: Number(dev[1]), minor: Number(dev[2]), op: target[1], value: parseUint(kv.slice(eq + 1)) });
    }
  }
  return { bytes, ios };
}

function isEmpty(v: unknown): boolean {
  if (v === 0 || v === '' || v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  return false;
}

/** Drop zero/empty values for the fields runc tags `omitempty`, giving runc's exact JSON shape. */
export function statsToRuncJson(s: CgroupStats): Record<string, unknown> {
  const omit = <T extends object>(o: T, keep: string[] = []): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) if (keep.includes(k) || !isEmpty(v)) out[k] = v;
    return out;
  };
  const mem = (e: MemoryEntry) => omit(e, ['limit', 'failcnt']);
  const blk = (entries: BlkioEntry[]) => entries.map((e) => omit(e));
  const blkio: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.blkio)) if (v.length > 0) blkio[k] = blk(v);
  const hugetlb: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.hugetlb)) hugetlb[k] = omit(v, ['failcnt']);
  return {
    cpu: { usage: omit(s.cpu.usage, ['kernel', 'user']), throttling: omit(s.cpu.throttling) },
    cpuset: omit(s.cpuset, [
      'cpu_exclusive',
      'mem_hardwall',
      'mem_exclusive',
      'memory_migrate',
      'memory_spread_page',
      'memory_spread_slab',
      'memory_pressure',
      'sched_load_balance',
      'sched_relax_domain_level',
    ]),
    memory: {
      ...(s.memory.cache ? { cache: s.memory.cache } : {}),
      usage: mem(s.memory.usage),
      swap: mem(s.memory.swap),
      kernel: mem(s.memory.kernel),
      kernelTCP: mem(s.memory.kernelTCP),
      ...(Object.keys(s.memory.raw).length > 0 ? { raw: s.memory.raw } : {}),
      event_count: s.memory.event_count,
    },
    pids: omit(s.pids),
    blkio,
    hugetlb,
    // Not cgroup data, but part of runc's document: no RDT, no per-interface counters here.
    intel_rdt: {},
    network_interfaces: null,
  };
}
