/**
 * cgroup v1 (and hybrid hosts, whose controllers are v1): one directory per mounted hierarchy.
 * Missing controllers are skipped when nothing is asked of them and reported as UNSUPPORTED (naming
 * the spec key) when something is.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../errors';
import {
  RES,
  deviceRuleString,
  hugepageSize,
  rdmaLine,
  requireInt,
} from './convert';
import {
  fileExists,
  formatInt,
  mkdirCgroup,
  parseKeyValues,
  parsePids,
  parseUint,
  readCgroupFile,
  readOptional,
  removeCgroupDir,
  sleep,
  walkDirs,
  writeCgroupFile,
} from './fsutil';
import type { CgroupManager, FreezerState } from './manager';
import { LinuxResources, LinuxThrottleDevice } from './spec';
import {
  CgroupStats,
  MemoryEntry,
  UINT64_MAX,
  emptyStats,
  parseBlkioFile,
  parseCpuList,
  parseNumberList,
} from './stats';

/** USER_HZ: cpuacct.stat counts clock ticks of 1/100 s on every Linux architecture we run on. */
const NS_PER_TICK = 1e9 / 100;

/** v1 memory files report "unlimited" as a page-aligned 2^63-1. */
const V1_UNLIMITED = 9223372036854771712;

const FREEZE_TIMEOUT_MS = 2000;

function isInvalid(err: unknown): boolean {
  return err instanceof BerthError && err.code === 'INVALID_CONFIG';
}

export class V1Manager implements CgroupManager {
  readonly mode = 'v1' as const;
  readonly warnings: string[] = [];

  /**
   * @param paths controller -> cgroup dir of this container
   * @param mountPoints controller -> hierarchy mount point (to initialise cpuset ancestors)
   */
  constructor(
    readonly paths: Record<string, string>,
    private readonly mountPoints: Record<string, string>,
  ) {}

  private uniqueDirs(): string[] {
    return [...new Set(Object.values(this.paths))];
  }

  /** The dir of a controller, or UNSUPPORTED naming the key that needed it. */
  private dir(controller: string, key: string): string {
    const d = this.paths[controller];
    if (d === undefined) {
      throw new BerthError('UNSUPPORTED', `cgroups: ${key}: the ${controller} cgroup controller is not mounted on this host`);
    }
    return d;
  }

  async create(): Promise<void> {
    const cpusetDir = this.paths['cpuset'];
    for (const d of this.uniqueDirs()) {
      if (d === cpusetDir) await this.createCpuset(d, this.mountPoints['cpuset'] ?? path.dirname(d));
      else await mkdirCgroup(d, true);
    }
  }

  /**
   * A new v1 cpuset cgroup starts with empty cpuset.cpus/mems and refuses tasks until they are set:
   * create each level from the mount point down, copying empty values from the parent.
   */
  private async createCpuset(dir: string, mountPoint: string): Promise<void> {
    const rel = path.relative(mountPoint, dir);
    if (rel.startsWith('..')) {
      await mkdirCgroup(dir, true);
      return;
    }
    let parent = mountPoint;
    for (const part of rel.split('/').filter((p) => p !== '')) {
      const cur = path.join(parent, part);
      await mkdirCgroup(cur);
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        const v = await readOptional(cur, f);
        if (v !== undefined && v === '') {
          const pv = await readCgroupFile(parent, f);
          await writeCgroupFile(cur, f, pv, `cgroup creation (${f} from the parent)`);
        }
      }
      parent = cur;
    }
  }

  async apply(pid: number): Promise<void> {
    requireInt(pid, 'pid');
    for (const d of this.uniqueDirs()) await writeCgroupFile(d, 'cgroup.procs', String(pid), `placing pid ${pid}`);
  }

  async set(r: LinuxResources): Promise<void> {
    await this.write(r);
  }

  async update(r: LinuxResources): Promise<void> {
    const m = r.memory;
    if (m?.checkBeforeUpdate && m.limit !== undefined && m.limit > 0) {
      const usage = parseUint(await readCgroupFile(this.dir('memory', `${RES}.memory.limit`), 'memory.usage_in_bytes'));
      if (usage > m.limit) {
        throw new BerthError(
          'FAILED_PRECONDITION',
          `cgroups: ${RES}.memory.limit: ${m.limit} is below the current usage ${usage} (checkBeforeUpdate)`,
        );
      }
    }
    await this.write(r);
  }

  private async write(r: LinuxResources): Promise<void> {
    if (r.unified && Object.keys(r.unified).length > 0) {
      throw new BerthError('UNSUPPORTED', `cgroups: ${RES}.unified: needs cgroup v2; this host's controllers are cgroup v1`);
    }
    if (r.devices && r.devices.length > 0) await this.writeDevices(r);
    if (r.memory) await this.writeMemory(r);
    if (r.cpu) await this.writeCpu(r);
    if (r.pids && r.pids.limit !== 0 && r.pids.limit !== undefined) {
      const limit = requireInt(r.pids.limit, `${RES}.pids.limit`);
      await writeCgroupFile(this.dir('pids', `${RES}.pids.limit`), 'pids.max', formatInt(limit, 'max'), `${RES}.pids.limit`);
    }
    if (r.blockIO) await this.writeBlkio(r);
    if (r.hugepageLimits && r.hugepageLimits.length > 0) {
      const key = `${RES}.hugepageLimits`;
      const dir = this.dir('hugetlb', key);
      for (const [i, h] of r.hugepageLimits.entries()) {
        const size = hugepageSize(h.pageSize, i);
        const limit = requireInt(h.limit, `${key}[${i}].limit`);
        await writeCgroupFile(dir, `hugetlb.${size}.limit_in_bytes`, formatInt(limit, '-1'), `${key}[${i}]`);
      }
    }
    if (r.network) {
      if (r.network.classID !== undefined) {
        const key = `${RES}.network.classID`;
        const id = requireInt(r.network.classID, key);
        await writeCgroupFile(this.dir('net_cls', key), 'net_cls.classid', String(id), key);
      }
      if (r.network.priorities && r.network.priorities.length > 0) {
        const key = `${RES}.network.priorities`;
        const dir = this.dir('net_prio', key);
        for (const [i, p] of r.network.priorities.entries()) {
          if (!/^[^\s/]+$/.test(p.name)) throw new BerthError('INVALID_CONFIG', `cgroups: ${key}[${i}].name: ${JSON.stringify(p.name)} is not an interface name`);
          await writeCgroupFile(dir, 'net_prio.ifpriomap', `${p.name} ${requireInt(p.priority, `${key}[${i}].priority`)}`, `${key}[${i}]`);
        }
      }
    }
    if (r.rdma && Object.keys(r.rdma).length > 0) {
      const key = `${RES}.rdma`;
      const dir = this.dir('rdma', key);
      for (const [dev, lim] of Object.entries(r.rdma)) {
        const line = rdmaLine(dev, lim.hcaHandles, lim.hcaObjects);
        if (line !== undefined) await writeCgroupFile(dir, 'rdma.max', line, `${key}.${dev}`);
      }
    }
  }

  /** Deny everything, then apply the rules in order (each allow/deny refines the previous state). */
  private async writeDevices(r: LinuxResources): Promise<void> {
    const rules = r.devices ?? [];
    const lines = rules.map((rule, i) => deviceRuleString(rule, i));
    const dir = this.dir('devices', `${RES}.devices`);
    await writeCgroupFile(dir, 'devices.deny', 'a', `${RES}.devices (deny all first)`);
    for (const [i, rule] of rules.entries()) {
      await writeCgroupFile(dir, rule.allow ? 'devices.allow' : 'devices.deny', lines[i], `${RES}.devices[${i}]`);
    }
  }

  private async writeMemory(r: LinuxResources): Promise<void> {
    const m = r.memory ?? {};
    const k = `${RES}.memory`;
    const has =
      m.limit !== undefined ||
      m.swap !== undefined ||
      m.reservation !== undefined ||
      m.kernel !== undefined ||
      m.kernelTCP !== undefined ||
      (m.swappiness !== undefined && m.swappiness !== -1) ||
      m.disableOOMKiller !== undefined ||
      m.useHierarchy !== undefined;
    if (!has) return;
    const dir = this.dir('memory', k);

    let limit = m.limit === undefined || m.limit === 0 ? undefined : requireInt(m.limit, `${k}.limit`);
    let swap = m.swap === undefined || m.swap === 0 ? undefined : requireInt(m.swap, `${k}.swap`);
    if (swap !== undefined || limit === -1) {
      const memsw = await fileExists(path.join(dir, 'memory.memsw.limit_in_bytes'));
      if (!memsw) {
        if (swap !== undefined && swap !== -1) {
          throw new BerthError('UNSUPPORTED', `cgroups: ${k}.swap: swap accounting is not enabled in this kernel (no memory.memsw.limit_in_bytes)`);
        }
        swap = undefined;
      } else if (swap === undefined && limit === -1) {
        swap = -1; // lifting the memory limit must lift memory+swap first, or the kernel refuses
      }
    }
    const writeLimit = () => writeCgroupFile(dir, 'memory.limit_in_bytes', formatInt(limit as number, '-1'), `${k}.limit`);
    const writeSwap = () => writeCgroupFile(dir, 'memory.memsw.limit_in_bytes', formatInt(swap as number, '-1'), `${k}.swap`);
    if (limit !== undefined && swap !== undefined) {
      // memsw must stay >= limit at every step: lowering wants limit first, raising wants memsw first.
      try {
        await writeLimit();
      } catch (err) {
        if (!isInvalid(err)) throw err;
        await writeSwap();
        await writeLimit();
        limit = undefined;
        swap = undefined;
      }
      if (swap !== undefined) await writeSwap();
    } else if (limit !== undefined) {
      await writeLimit();
    } else if (swap !== undefined) {
      await writeSwap();
    }

    if (m.reservation !== undefined && m.reservation !== 0) {
      await writeCgroupFile(dir, 'memory.soft_limit_in_bytes', formatInt(requireInt(m.reservation, `${k}.reservation`), '-1'), `${k}.reservation`);
    }
    for (const [field, file] of [
      ['kernel', 'memory.kmem.limit_in_bytes'],
      ['kernelTCP', 'memory.kmem.tcp.limit_in_bytes'],
    ] as const) {
      const v = m[field];
      if (v === undefined || v === 0) continue;
      try {
        await writeCgroupFile(dir, file, formatInt(requireInt(v, `${k}.${field}`), '-1'), `${k}.${field}`);
      } catch (err) {
        if (err instanceof BerthError && (err.code === 'UNSUPPORTED' || err.code === 'INVALID_CONFIG')) {
          this.warnings.push(`${k}.${field}: ignored, the kernel does not support it (${file})`);
        } else throw err;
      }
    }
    if (m.swappiness !== undefined && m.swappiness !== -1) {
      const s = requireInt(m.swappiness, `${k}.swappiness`);
      if (s < 0 || s > 100) throw new BerthError('INVALID_CONFIG', `cgroups: ${k}.swappiness: ${s} is not in 0..100`);
      await writeCgroupFile(dir, 'memory.swappiness', String(s), `${k}.swappiness`);
    }
    if (m.disableOOMKiller !== undefined) {
      await writeCgroupFile(dir, 'memory.oom_control', m.disableOOMKiller ? '1' : '0', `${k}.disableOOMKiller`);
    }
    if (m.useHierarchy !== undefined) {
      await writeCgroupFile(dir, 'memory.use_hierarchy', m.useHierarchy ? '1' : '0', `${k}.useHierarchy`);
    }
  }

  private async writeCpu(r: LinuxResources): Promise<void> {
    const c = r.cpu ?? {};
    const k = `${RES}.cpu`;
    const int = (v: number, f: string) => requireInt(v, `${k}.${f}`);
    if (c.shares !== undefined && c.shares !== 0) {
      await writeCgroupFile(this.dir('cpu', `${k}.shares`), 'cpu.shares', String(int(c.shares, 'shares')), `${k}.shares`);
    }
    const quota = c.quota === undefined || c.quota === 0 ? undefined : int(c.quota, 'quota');
    const period = c.period === undefined || c.period === 0 ? undefined : int(c.period, 'period');
    const burst = c.burst === undefined ? undefined : int(c.burst, 'burst');
    const writeBurst = () => writeCgroupFile(this.dir('cpu', `${k}.burst`), 'cpu.cfs_burst_us', String(burst), `${k}.burst`);
    let burstDone = false;
    if (quota !== undefined || period !== undefined) {
      const dir = this.dir('cpu', quota !== undefined ? `${k}.quota` : `${k}.period`);
      const writeQuota = () => writeCgroupFile(dir, 'cpu.cfs_quota_us', formatInt(quota as number, '-1'), `${k}.quota`);
      const writePeriod = () => writeCgroupFile(dir, 'cpu.cfs_period_us', String(period), `${k}.period`);
      const quotaAndPeriod = async () => {
        if (period === undefined) await writeQuota();
        else if (quota === undefined) await writePeriod();
        else {
          // A new period can be refused against the old quota (the ratio must fit the parent's): retry
          // in the other order.
          try {
            await writePeriod();
          } catch (err) {
            if (!isInvalid(err)) throw err;
            await writeQuota();
            await writePeriod();
          }
          await writeQuota();
        }
      };
      // The kernel keeps burst <= quota: a quota below the old burst needs the new burst first.
      try {
        await quotaAndPeriod();
      } catch (err) {
        if (!isInvalid(err) || burst === undefined) throw err;
        await writeBurst();
        burstDone = true;
        await quotaAndPeriod();
      }
    }
    if (burst !== undefined && !burstDone) await writeBurst();
    if (c.realtimePeriod !== undefined && c.realtimePeriod !== 0) {
      await writeCgroupFile(this.dir('cpu', `${k}.realtimePeriod`), 'cpu.rt_period_us', String(int(c.realtimePeriod, 'realtimePeriod')), `${k}.realtimePeriod`);
    }
    if (c.realtimeRuntime !== undefined && c.realtimeRuntime !== 0) {
      await writeCgroupFile(
        this.dir('cpu', `${k}.realtimeRuntime`),
        'cpu.rt_runtime_us',
        formatInt(int(c.realtimeRuntime, 'realtimeRuntime'), '-1'),
        `${k}.realtimeRuntime`,
      );
    }
    if (c.idle !== undefined) {
      await writeCgroupFile(this.dir('cpu', `${k}.idle`), 'cpu.idle', String(int(c.idle, 'idle')), `${k}.idle`);
    }
    // cpus before mems is the usual order; both must be non-empty subsets of the parent's.
    if (c.cpus !== undefined && c.cpus !== '') {
      await writeCgroupFile(this.dir('cpuset', `${k}.cpus`), 'cpuset.cpus', c.cpus, `${k}.cpus`);
    }
    if (c.mems !== undefined && c.mems !== '') {
      await writeCgroupFile(this.dir('cpuset', `${k}.mems`), 'cpuset.mems', c.mems, `${k}.mems`);
    }
  }

  private async writeBlkio(r: LinuxResources): Promise<void> {
    const b = r.blockIO ?? {};
    const k = `${RES}.blockIO`;
    const dirFor = (key: string) => this.dir('blkio', key);
    // Kernels without CFQ expose BFQ's knobs (blkio.bfq.weight) instead of blkio.weight.
    const pick = async (dir: string, key: string, ...files: string[]): Promise<string> => {
      for (const f of files) if (await fileExists(path.join(dir, f))) return f;
      throw new BerthError('UNSUPPORTED', `cgroups: ${key}: this kernel has none of ${files.join(', ')} in ${dir}`);
    };
    if (b.weight !== undefined && b.weight !== 0) {
      const dir = dirFor(`${k}.weight`);
      const f = await pick(dir, `${k}.weight`, 'blkio.weight', 'blkio.bfq.weight');
      await writeCgroupFile(dir, f, String(requireInt(b.weight, `${k}.weight`)), `${k}.weight`);
    }
    if (b.leafWeight !== undefined && b.leafWeight !== 0) {
      const dir = dirFor(`${k}.leafWeight`);
      const f = await pick(dir, `${k}.leafWeight`, 'blkio.leaf_weight');
      await writeCgroupFile(dir, f, String(requireInt(b.leafWeight, `${k}.leafWeight`)), `${k}.leafWeight`);
    }
    for (const [i, wd] of (b.weightDevice ?? []).entries()) {
      const key = `${k}.weightDevice[${i}]`;
      const dir = dirFor(key);
      const dev = `${requireInt(wd.major, `${key}.major`)}:${requireInt(wd.minor, `${key}.minor`)}`;
      if (wd.weight !== undefined && wd.weight !== 0) {
        const f = await pick(dir, `${key}.weight`, 'blkio.weight_device', 'blkio.bfq.weight_device');
        await writeCgroupFile(dir, f, `${dev} ${requireInt(wd.weight, `${key}.weight`)}`, `${key}.weight`);
      }
      if (wd.leafWeight !== undefined && wd.leafWeight !== 0) {
        const f = await pick(dir, `${key}.leafWeight`, 'blkio.leaf_weight_device');
        await writeCgroupFile(dir, f, `${dev} ${requireInt(wd.leafWeight, `${key}.leafWeight`)}`, `${key}.leafWeight`);
      }
    }
    const throttles: [keyof typeof b, string][] = [
      ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
      ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
      ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
      ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
    ];
    for (const [field, file] of throttles) {
      const list = (b[field] as LinuxThrottleDevice[] | undefined) ?? [];
      for (const [i, t] of list.entries()) {
        const key = `${k}.${field}[${i}]`;
        const line = `${requireInt(t.major, `${key}.major`)}:${requireInt(t.minor, `${key}.minor`)} ${requireInt(t.rate, `${key}.rate`)}`;
        await writeCgroupFile(dirFor(key), file, line, key);
      }
    }
  }

  async freeze(): Promise<void> {
    const dir = this.dir('freezer', 'freeze');
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    for (let i = 0; ; i++) {
      // Re-writing FROZEN nudges tasks that were forking while the first attempt ran.
      if (i % 10 === 0) await writeCgroupFile(dir, 'freezer.state', 'FROZEN', 'freeze');
      const state = await readCgroupFile(dir, 'freezer.state');
      if (state === 'FROZEN') return;
      if (Date.now() > deadline) {
        await writeCgroupFile(dir, 'freezer.state', 'THAWED', 'thaw after a failed freeze').catch(() => undefined);
        throw new BerthError('TIMEOUT', `cgroups: freezing ${dir} did not complete in ${FREEZE_TIMEOUT_MS} ms (state ${state})`);
      }
      await sleep(i < 10 ? 1 : 10);
    }
  }

  async thaw(): Promise<void> {
    await writeCgroupFile(this.dir('freezer', 'thaw'), 'freezer.state', 'THAWED', 'thaw');
  }

  async freezerState(): Promise<FreezerState> {
    const dir = this.paths['freezer'];
    if (dir === undefined) return 'thawed';
    const s = await readOptional(dir, 'freezer.state');
    if (s === 'FROZEN') return 'frozen';
    if (s === 'FREEZING') return 'freezing';
    return 'thawed';
  }

  /** The hierarchy used to list processes: any will do, pids/freezer/memory are the likeliest present. */
  private listingDir(): string {
    for (const c of ['pids', 'freezer', 'memory', 'devices', 'cpu', 'cpuacct', 'cpuset', 'blkio']) {
      if (this.paths[c] !== undefined) return this.paths[c];
    }
    return this.uniqueDirs()[0];
  }

  async pids(): Promise<number[]> {
    const out = new Set<number>();
    for (const d of await walkDirs(this.listingDir())) {
      for (const p of parsePids(await readOptional(d, 'cgroup.procs'))) out.add(p);
    }
    return [...out];
  }

  async stats(): Promise<CgroupStats> {
    const s = emptyStats();
    const p = this.paths;
    const tasks: Promise<void>[] = [];
    if (p['cpuacct']) tasks.push(this.cpuacctStats(p['cpuacct'], s));
    if (p['cpu']) {
      tasks.push(
        readOptional(p['cpu'], 'cpu.stat').then((t) => {
          const kv = parseKeyValues(t);
          s.cpu.throttling = { periods: kv.nr_periods ?? 0, throttledPeriods: kv.nr_throttled ?? 0, throttledTime: kv.throttled_time ?? 0 };
        }),
      );
    }
    if (p['cpuset']) tasks.push(this.cpusetStats(p['cpuset'], s));
    if (p['memory']) tasks.push(this.memoryStats(p['memory'], s));
    if (p['pids']) {
      const d = p['pids'];
      tasks.push(
        Promise.all([readOptional(d, 'pids.current'), readOptional(d, 'pids.max')]).then(([cur, max]) => {
          s.pids = { current: parseUint(cur), limit: parseUint(max, 0) };
        }),
      );
    }
    if (p['blkio']) tasks.push(this.blkioStats(p['blkio'], s));
    if (p['hugetlb']) tasks.push(this.hugetlbStats(p['hugetlb'], s));
    await Promise.all(tasks);
    return s;
  }

  private async cpuacctStats(d: string, s: CgroupStats): Promise<void> {
    const [total, percpu, pUser, pSys, stat] = await Promise.all([
      readOptional(d, 'cpuacct.usage'),
      readOptional(d, 'cpuacct.usage_percpu'),
      readOptional(d, 'cpuacct.usage_percpu_user'),
      readOptional(d, 'cpuacct.usage_percpu_sys'),
      readOptional(d, 'cpuacct.stat'),
    ]);
    const kv = parseKeyValues(stat);
    s.cpu.usage = {
      total: parseUint(total),
      percpu: parseNumberList(percpu),
      percpu_kernel: parseNumberList(pSys),
      percpu_user: parseNumberList(pUser),
      kernel: (kv.system ?? 0) * NS_PER_TICK,
      user: (kv.user ?? 0) * NS_PER_TICK,
    };
  }

  private async cpusetStats(d: string, s: CgroupStats): Promise<void> {
    const flags = [
      'cpu_exclusive',
      'mem_hardwall',
      'mem_exclusive',
      'memory_migrate',
      'memory_spread_page',
      'memory_spread_slab',
      'memory_pressure',
      'sched_load_balance',
      'sched_relax_domain_level',
    ] as const;
    const [cpus, mems, ...vals] = await Promise.all([
      readOptional(d, 'cpuset.cpus'),
      readOptional(d, 'cpuset.mems'),
      ...flags.map((f) => readOptional(d, `cpuset.${f}`)),
    ]);
    s.cpuset.cpus = parseCpuList(cpus);
    s.cpuset.mems = parseCpuList(mems);
    flags.forEach((f, i) => {
      const n = Number(vals[i] ?? '0');
      s.cpuset[f] = Number.isFinite(n) ? n : 0;
    });
  }

  private async memoryEntry(d: string, prefix: string): Promise<MemoryEntry> {
    const [usage, max, failcnt, limit] = await Promise.all(
      ['usage_in_bytes', 'max_usage_in_bytes', 'failcnt', 'limit_in_bytes'].map((f) => readOptional(d, `${prefix}.${f}`)),
    );
    const lim = parseUint(limit);
    return { usage: parseUint(usage), max: parseUint(max), failcnt: parseUint(failcnt), limit: lim >= V1_UNLIMITED ? UINT64_MAX : lim };
  }

  private async memoryStats(d: string, s: CgroupStats): Promise<void> {
    const [usage, swap, kernel, kernelTCP, stat, oom] = await Promise.all([
      this.memoryEntry(d, 'memory'),
      this.memoryEntry(d, 'memory.memsw'),
      this.memoryEntry(d, 'memory.kmem'),
      this.memoryEntry(d, 'memory.kmem.tcp'),
      readOptional(d, 'memory.stat'),
      readOptional(d, 'memory.oom_control'),
    ]);
    const raw = parseKeyValues(stat);
    const oc = parseKeyValues(oom);
    s.memory = {
      cache: raw.cache ?? 0,
      usage,
      swap,
      kernel,
      kernelTCP,
      raw,
      event_count: { low: 0, high: 0, max: 0, oom: 0, oom_kill: oc.oom_kill ?? 0 },
    };
  }

  private async blkioStats(d: string, s: CgroupStats): Promise<void> {
    // CFQ's files when present, else BFQ's, else the throttle layer's (which sees every device).
    const first = async (suffix: string) => {
      for (const pre of ['blkio.', 'blkio.bfq.', 'blkio.throttle.']) {
        const t = await readOptional(d, pre + suffix);
        const entries = parseBlkioFile(t);
        if (entries.length > 0) return entries;
      }
      return [];
    };
    const [bytes, ios] = await Promise.all([first('io_service_bytes_recursive'), first('io_serviced_recursive')]);
    s.blkio.ioServiceBytesRecursive = bytes;
    s.blkio.ioServicedRecursive = ios;
  }

  private async hugetlbStats(d: string, s: CgroupStats): Promise<void> {
    let names: string[];
    try {
      names = await fs.promises.readdir(d);
    } catch {
      return;
    }
    const sizes = names.map((n) => /^hugetlb\.([0-9]+[KMG]B)\.limit_in_bytes$/.exec(n)?.[1]).filter((x): x is string => x !== undefined);
    await Promise.all(
      sizes.map(async (size) => {
        const [usage, max, failcnt] = await Promise.all(
          ['usage_in_bytes', 'max_usage_in_bytes', 'failcnt'].map((f) => readOptional(d, `hugetlb.${size}.${f}`)),
        );
        s.hugetlb[size] = { usage: parseUint(usage), max: parseUint(max), failcnt: parseUint(failcnt) };
      }),
    );
  }

  async oomKillCount(): Promise<number> {
    const d = this.paths['memory'];
    if (d === undefined) return 0;
    return parseKeyValues(await readOptional(d, 'memory.oom_control')).oom_kill ?? 0;
  }

  async killAll(signal: NodeJS.Signals | number): Promise<void> {
    const canFreeze = this.paths['freezer'] !== undefined && (await fileExists(path.join(this.paths['freezer'], 'freezer.state')));
    let frozen = false;
    if (canFreeze) {
      // Freezing stops forks racing the kill loop; if it cannot complete, signal anyway.
      frozen = await this.freeze().then(
        () => true,
        () => false,
      );
    }
    try {
      for (const pid of await this.pids()) {
        try {
          process.kill(pid, signal);
        } catch (err) {
          if (!isErrno(err, 'ESRCH')) throw new BerthError('INTERNAL', `cgroups: signalling pid ${pid}: ${String(err)}`, { cause: err });
        }
      }
    } finally {
      if (frozen) await this.thaw();
    }
  }

  /** Tries every hierarchy even when one fails, then reports the first failure. */
  async destroy(): Promise<void> {
    let first: unknown;
    for (const d of this.uniqueDirs()) {
      try {
        await removeCgroupDir(d);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  async exists(): Promise<boolean> {
    for (const d of this.uniqueDirs()) if (await fileExists(d)) return true;
    return false;
  }
}
