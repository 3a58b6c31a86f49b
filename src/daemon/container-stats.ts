/**
 * CRI stats math, free of protobuf types: cgroup stats (src/runtime/cgroups) to CPU and memory
 * usage, nano-cores from two samples, /proc/<pid>/net/dev parsing, and the per-container sample
 * memory. Values are JS numbers (bytes and nanoseconds stay far below 2^53 in practice).
 */
import { UINT64_MAX, type CgroupStats } from '../runtime/cgroups/stats';

export interface CpuSample {
  /** Unix nanoseconds of the sample (bigint: wall-clock ns exceed 2^53). */
  at: bigint;
  /** Cumulative CPU time, ns. */
  usageNs: number;
}

export interface CpuFigures {
  usageCoreNanoSeconds: number;
  /** undefined on the first sample (no rate yet). */
  usageNanoCores: number | undefined;
}

export interface MemoryFigures {
  workingSetBytes: number;
  usageBytes: number;
  rssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  /** undefined when no limit is set. */
  availableBytes: number | undefined;
}

/** Nano-cores between two samples: CPU ns used per wall ns, times 1e9. undefined without a usable previous sample. */
export function nanoCores(prev: CpuSample | undefined, cur: CpuSample): number | undefined {
  if (!prev) return undefined;
  const wall = Number(cur.at - prev.at);
  if (wall <= 0 || cur.usageNs < prev.usageNs) return undefined;
  return Math.round(((cur.usageNs - prev.usageNs) / wall) * 1e9);
}

/** Remembers the last CPU sample per key, to compute rates (nano-cores) across calls. */
export class CpuSampler {
  private readonly last = new Map<string, CpuSample>();
  /** Rate against the previous sample of `key`; keeps `cur` as the next call's previous unless it is too close (< 100 ms). */
  sample(key: string, cur: CpuSample): CpuFigures {
    const prev = this.last.get(key);
    const rate = nanoCores(prev, cur);
    if (!prev || cur.at - prev.at >= 100_000_000n || rate === undefined) this.last.set(key, cur);
    return { usageCoreNanoSeconds: cur.usageNs, usageNanoCores: rate };
  }
  forget(key: string): void {
    this.last.delete(key);
  }
  keys(): string[] {
    return [...this.last.keys()];
  }
}

function raw(s: CgroupStats, v1: string, v2: string): number {
  return s.memory.raw[v1] ?? s.memory.raw[v2] ?? 0;
}

/** Memory figures as kubelet/cAdvisor define them: working set = usage - inactive_file (not below 0). */
export function memoryFigures(s: CgroupStats): MemoryFigures {
  const usage = s.memory.usage.usage;
  const inactive = raw(s, 'total_inactive_file', 'inactive_file');
  const ws = usage > inactive ? usage - inactive : 0;
  const limit = s.memory.usage.limit;
  const limited = limit > 0 && limit < UINT64_MAX && limit < 2 ** 62;
  return {
    workingSetBytes: ws,
    usageBytes: usage,
    rssBytes: raw(s, 'total_rss', 'anon'),
    pageFaults: raw(s, 'total_pgfault', 'pgfault'),
    majorPageFaults: raw(s, 'total_pgmajfault', 'pgmajfault'),
    availableBytes: limited ? Math.max(0, limit - ws) : undefined,
  };
}

/** Sums of several cgroups' stats (a pod without its own cgroup: the sum of its containers). */
export function sumStats(list: readonly CgroupStats[], base: CgroupStats): CgroupStats {
  const out: CgroupStats = JSON.parse(JSON.stringify(base)) as CgroupStats;
  out.cpu.usage.total = 0;
  out.memory.usage.usage = 0;
  out.memory.usage.limit = 0;
  out.memory.raw = {};
  out.pids.current = 0;
  for (const s of list) {
    out.cpu.usage.total += s.cpu.usage.total;
    out.memory.usage.usage += s.memory.usage.usage;
    for (const [k, v] of Object.entries(s.memory.raw)) out.memory.raw[k] = (out.memory.raw[k] ?? 0) + v;
    out.pids.current += s.pids.current;
  }
  return out;
}

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

/**
 * /proc/<pid>/net/dev: two header lines, then "  name: rx_bytes rx_packets rx_errs rx_drop fifo frame
 * compressed multicast tx_bytes tx_packets tx_errs ...". The loopback interface is left out.
 */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === '' || name === 'lo' || f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    out.push({ name, rxBytes: f[0], rxErrors: f[2], txBytes: f[8], txErrors: f[10] });
  }
  return out;
}

/** The default interface: eth0 when present, else the first one. */
export function defaultInterface(ifs: readonly InterfaceCounters[]): InterfaceCounters | undefined {
  return ifs.find((i) => i.name === 'eth0') ?? ifs[0];
}
