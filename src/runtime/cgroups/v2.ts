/**
 * cgroup v2 (unified hierarchy): one directory. Controllers are enabled in every ancestor's
 * cgroup.subtree_control on create; the freezer is cgroup.freeze; killAll uses cgroup.kill for SIGKILL.
 *
 * Device rules: v2 enforces them with an eBPF program, which is not implemented yet. set() accepts
 * rules whose net effect is "allow everything" (none, or a last rule "allow a *:* rwm") and refuses
 * anything else with UNSUPPORTED rather than silently not enforcing it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../errors';
import {
  RES,
  blkioWeightToIoWeight,
  checkUnifiedKey,
  devicesAllowAll,
  hugepageSize,
  rdmaLine,
  requireInt,
  sharesToWeight,
  swapToV2,
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
import { CgroupStats, MemoryEntry, UINT64_MAX, emptyStats, parseCpuList, parseIoStat } from './stats';

const FREEZE_TIMEOUT_MS = 2000;

export class V2Manager implements CgroupManager {
  readonly mode = 'v2' as const;
  readonly warnings: string[] = [];
  readonly paths: Record<string, string>;

  constructor(
    private readonly mountPoint: string,
    private readonly dir: string,
  ) {
    this.paths = { '': dir };
  }

  async create(): Promise<void> {
    const rel = path.relative(this.mountPoint, this.dir);
    if (rel === '' || rel.startsWith('..')) {
      await mkdirCgroup(this.dir, true);
      return;
    }
    let parent = this.mountPoint;
    for (const part of rel.split('/').filter((p) => p !== '')) {
      await this.enableControllers(parent);
      const cur = path.join(parent, part);
      await mkdirCgroup(cur);
      parent = cur;
    }
  }

  /** Enable in `dir`'s cgroup.subtree_control every controller it has that is not enabled yet. */
  private async enableControllers(dir: string): Promise<void> {
    const [avail, enabled] = await Promise.all([readOptional(dir, 'cgroup.controllers'), readOptional(dir, 'cgroup.subtree_control')]);
    if (avail === undefined || enabled === undefined) return;
    const on = new Set(enabled.split(/\s+/).filter((c) => c !== ''));
    const missing = avail.split(/\s+/).filter((c) => c !== '' && !on.has(c));
    if (missing.length === 0) return;
    try {
      await writeCgroupFile(dir, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '), 'enabling controllers');
    } catch {
      // One refusal (e.g. a controller busy with processes in dir) fails the whole write: go one by one.
      for (const c of missing) {
        try {
          await writeCgroupFile(dir, 'cgroup.subtree_control', `+${c}`, `enabling the ${c} controller`);
        } catch (err) {
          this.warnings.push(`could not enable the ${c} controller in ${dir}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
  }

  async apply(pid: number): Promise<void> {
    requireInt(pid, 'pid');
    await writeCgroupFile(this.dir, 'cgroup.procs', String(pid), `placing pid ${pid}`);
  }

  async set(r: LinuxResources): Promise<void> {
    await this.write(r);
  }

  async update(r: LinuxResources): Promise<void> {
    const m = r.memory;
    if (m?.checkBeforeUpdate && m.limit !== undefined && m.limit > 0) {
      const usage = parseUint(await readCgroupFile(this.dir, 'memory.current'));
      if (usage > m.limit) {
        throw new BerthError('FAILED_PRECONDITION', `cgroups: ${RES}.memory.limit: ${m.limit} is below the current usage ${usage} (checkBeforeUpdate)`);
      }
    }
    await this.write(r);
  }

  private async write(r: LinuxResources): Promise<void> {
    const d = this.dir;
    // Refuse what cannot be honoured before writing anything.
    if (!devicesAllowAll(r.devices)) {
      throw new BerthError('UNSUPPORTED', 'device cgroup rules on cgroup v2 are not supported yet');
    }
    if (r.network && (r.network.classID !== undefined || (r.network.priorities?.length ?? 0) > 0)) {
      throw new BerthError('UNSUPPORTED', `cgroups: ${RES}.network: net_cls/net_prio do not exist on cgroup v2`);
    }
    const c = r.cpu;
    if (c && ((c.realtimeRuntime ?? 0) !== 0 || (c.realtimePeriod ?? 0) !== 0)) {
      throw new BerthError('UNSUPPORTED', `cgroups: ${RES}.cpu.realtimeRuntime/realtimePeriod: not supported on cgroup v2`);
    }
    if (r.blockIO?.leafWeight || r.blockIO?.weightDevice?.some((w) => w.leafWeight)) {
      throw new BerthError('UNSUPPORTED', `cgroups: ${RES}.blockIO.leafWeight: not supported on cgroup v2`);
    }
    for (const key of Object.keys(r.unified ?? {})) checkUnifiedKey(key);

    if (r.memory) await this.writeMemory(r);
    if (c) {
      const k = `${RES}.cpu`;
      if (c.shares !== undefined && c.shares !== 0) {
        await writeCgroupFile(d, 'cpu.weight', String(sharesToWeight(requireInt(c.shares, `${k}.shares`))), `${k}.shares`);
      }
      const quota = c.quota === undefined || c.quota === 0 ? undefined : requireInt(c.quota, `${k}.quota`);
      const period = c.period === undefined || c.period === 0 ? undefined : requireInt(c.period, `${k}.period`);
      if (quota !== undefined || period !== undefined) {
        const q = quota === undefined || quota < 0 ? 'max' : String(quota);
        await writeCgroupFile(d, 'cpu.max', period === undefined ? q : `${q} ${period}`, quota !== undefined ? `${k}.quota` : `${k}.period`);
      }
      if (c.burst !== undefined) await writeCgroupFile(d, 'cpu.max.burst', String(requireInt(c.burst, `${k}.burst`)), `${k}.burst`);
      if (c.idle !== undefined) await writeCgroupFile(d, 'cpu.idle', String(requireInt(c.idle, `${k}.idle`)), `${k}.idle`);
      if (c.cpus !== undefined && c.cpus !== '') await writeCgroupFile(d, 'cpuset.cpus', c.cpus, `${k}.cpus`);
      if (c.mems !== undefined && c.mems !== '') await writeCgroupFile(d, 'cpuset.mems', c.mems, `${k}.mems`);
    }
    if (r.pids && r.pids.limit !== 0 && r.pids.limit !== undefined) {
      const key = `${RES}.pids.limit`;
      await writeCgroupFile(d, 'pids.max', formatInt(requireInt(r.pids.limit, key), 'max'), key);
    }
    if (r.blockIO) await this.writeIo(r);
    for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
      const key = `${RES}.hugepageLimits[${i}]`;
      await writeCgroupFile(d, `hugetlb.${hugepageSize(h.pageSize, i)}.max`, formatInt(requireInt(h.limit, `${key}.limit`), 'max'), key);
    }
    for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
      const line = rdmaLine(dev, lim.hcaHandles, lim.hcaObjects);
      if (line !== undefined) await writeCgroupFile(d, 'rdma.max', line, `${RES}.rdma.${dev}`);
    }
    for (const [key, value] of Object.entries(r.unified ?? {})) {
      await writeCgroupFile(d, key, value, `${RES}.unified[${JSON.stringify(key)}]`);
    }
  }

  private async writeMemory(r: LinuxResources): Promise<void> {
    const m = r.memory ?? {};
    const k = `${RES}.memory`;
    const d = this.dir;
    const limit = m.limit === undefined || m.limit === 0 ? undefined : requireInt(m.limit, `${k}.limit`);
    const swap = swapToV2(m.swap === undefined ? undefined : requireInt(m.swap, `${k}.swap`), limit);
    if (swap !== undefined) {
      if (swap === 'max' && !(await fileExists(path.join(d, 'memory.swap.max')))) {
        // No swap accounting: "unlimited swap" is already the case.
      } else {
        await writeCgroupFile(d, 'memory.swap.max', swap, `${k}.swap`);
      }
    }
    if (limit !== undefined) await writeCgroupFile(d, 'memory.max', formatInt(limit, 'max'), `${k}.limit`);
    if (m.reservation !== undefined && m.reservation !== 0) {
      await writeCgroupFile(d, 'memory.low', formatInt(requireInt(m.reservation, `${k}.reservation`), 'max'), `${k}.reservation`);
    }
    if (m.kernel !== undefined && m.kernel !== 0) this.warnings.push(`${k}.kernel: ignored, cgroup v2 has no kernel memory limit`);
    if (m.kernelTCP !== undefined && m.kernelTCP !== 0) this.warnings.push(`${k}.kernelTCP: ignored, cgroup v2 has no kernel TCP limit`);
    if (m.swappiness !== undefined && m.swappiness !== -1) this.warnings.push(`${k}.swappiness: ignored, cgroup v2 has no per-cgroup swappiness`);
    if (m.disableOOMKiller) this.warnings.push(`${k}.disableOOMKiller: ignored, cgroup v2 cannot disable the OOM killer`);
  }

  private async writeIo(r: LinuxResources): Promise<void> {
    const b = r.blockIO ?? {};
    const k = `${RES}.blockIO`;
    const d = this.dir;
    // With BFQ, io.bfq.weight takes the blkio scale (1..1000) directly; io.weight takes 1..10000.
    const bfq = (b.weight ?? 0) !== 0 || (b.weightDevice?.length ?? 0) > 0 ? await fileExists(path.join(d, 'io.bfq.weight')) : false;
    if (b.weight !== undefined && b.weight !== 0) {
      const w = requireInt(b.weight, `${k}.weight`);
      if (bfq) await writeCgroupFile(d, 'io.bfq.weight', String(w), `${k}.weight`);
      else await writeCgroupFile(d, 'io.weight', `default ${blkioWeightToIoWeight(w)}`, `${k}.weight`);
    }
    for (const [i, wd] of (b.weightDevice ?? []).entries()) {
      const key = `${k}.weightDevice[${i}]`;
      if (wd.weight === undefined || wd.weight === 0) continue;
      const dev = `${requireInt(wd.major, `${key}.major`)}:${requireInt(wd.minor, `${key}.minor`)}`;
      const w = requireInt(wd.weight, `${key}.weight`);
      if (bfq) await writeCgroupFile(d, 'io.bfq.weight', `${dev} ${w}`, key);
      else await writeCgroupFile(d, 'io.weight', `${dev} ${blkioWeightToIoWeight(w)}`, key);
    }
    const throttles: [keyof typeof b, string][] = [
      ['throttleReadBpsDevice', 'rbps'],
      ['throttleWriteBpsDevice', 'wbps'],
      ['throttleReadIOPSDevice', 'riops'],
      ['throttleWriteIOPSDevice', 'wiops'],
    ];
    for (const [field, name] of throttles) {
      for (const [i, t] of ((b[field] as LinuxThrottleDevice[] | undefined) ?? []).entries()) {
        const key = `${k}.${field}[${i}]`;
        const rate = requireInt(t.rate, `${key}.rate`);
        const line = `${requireInt(t.major, `${key}.major`)}:${requireInt(t.minor, `${key}.minor`)} ${name}=${rate === 0 ? 'max' : rate}`;
        await writeCgroupFile(d, 'io.max', line, key);
      }
    }
  }

  async freeze(): Promise<void> {
    await writeCgroupFile(this.dir, 'cgroup.freeze', '1', 'freeze');
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    for (let i = 0; ; i++) {
      const ev = parseKeyValues(await readOptional(this.dir, 'cgroup.events'));
      if (ev.frozen === 1) return;
      if (Date.now() > deadline) {
        await writeCgroupFile(this.dir, 'cgroup.freeze', '0', 'thaw after a failed freeze').catch(() => undefined);
        throw new BerthError('TIMEOUT', `cgroups: freezing ${this.dir} did not complete in ${FREEZE_TIMEOUT_MS} ms`);
      }
      await sleep(i < 10 ? 1 : 10);
    }
  }

  async thaw(): Promise<void> {
    await writeCgroupFile(this.dir, 'cgroup.freeze', '0', 'thaw');
  }

  async freezerState(): Promise<FreezerState> {
    const want = await readOptional(this.dir, 'cgroup.freeze');
    if (want !== '1') return 'thawed';
    const ev = parseKeyValues(await readOptional(this.dir, 'cgroup.events'));
    return ev.frozen === 1 ? 'frozen' : 'freezing';
  }

  async pids(): Promise<number[]> {
    const out = new Set<number>();
    for (const d of await walkDirs(this.dir)) for (const p of parsePids(await readOptional(d, 'cgroup.procs'))) out.add(p);
    return [...out];
  }

  async stats(): Promise<CgroupStats> {
    const s = emptyStats();
    const d = this.dir;
    const names = await fs.promises.readdir(d).catch(() => [] as string[]);
    const r = (f: string) => (names.includes(f) ? readOptional(d, f) : Promise.resolve(undefined));
    const [cpuStat, cpus, mems, cur, peak, max, events, swapCur, swapMax, memStat, pidsCur, pidsMax, ioStat] = await Promise.all([
      r('cpu.stat'),
      r('cpuset.cpus.effective'),
      r('cpuset.mems.effective'),
      r('memory.current'),
      r('memory.peak'),
      r('memory.max'),
      r('memory.events'),
      r('memory.swap.current'),
      r('memory.swap.max'),
      r('memory.stat'),
      r('pids.current'),
      r('pids.max'),
      r('io.stat'),
    ]);
    const cs = parseKeyValues(cpuStat);
    s.cpu.usage.total = (cs.usage_usec ?? 0) * 1000;
    s.cpu.usage.user = (cs.user_usec ?? 0) * 1000;
    s.cpu.usage.kernel = (cs.system_usec ?? 0) * 1000;
    s.cpu.throttling = { periods: cs.nr_periods ?? 0, throttledPeriods: cs.nr_throttled ?? 0, throttledTime: (cs.throttled_usec ?? 0) * 1000 };
    s.cpuset.cpus = parseCpuList(cpus);
    s.cpuset.mems = parseCpuList(mems);

    const ev = parseKeyValues(events);
    const usage: MemoryEntry = { usage: parseUint(cur), max: parseUint(peak), limit: parseUint(max, UINT64_MAX), failcnt: ev.max ?? 0 };
    // Like runc: report swap as memory+swap, the v1 meaning consumers expect.
    const swap: MemoryEntry = { usage: 0, max: 0, limit: 0, failcnt: 0 };
    if (swapCur !== undefined) {
      swap.usage = parseUint(swapCur) + usage.usage;
      const sm = parseUint(swapMax, UINT64_MAX);
      swap.limit = sm === UINT64_MAX || usage.limit === UINT64_MAX ? UINT64_MAX : sm + usage.limit;
    }
    const raw = parseKeyValues(memStat);
    s.memory = {
      ...s.memory,
      cache: raw.file ?? 0,
      usage,
      swap,
      raw,
      event_count: { low: ev.low ?? 0, high: ev.high ?? 0, max: ev.max ?? 0, oom: ev.oom ?? 0, oom_kill: ev.oom_kill ?? 0 },
    };
    s.pids = { current: parseUint(pidsCur), limit: parseUint(pidsMax, 0) };
    const io = parseIoStat(ioStat);
    s.blkio.ioServiceBytesRecursive = io.bytes;
    s.blkio.ioServicedRecursive = io.ios;

    const sizes = names.map((n) => /^hugetlb\.([0-9]+[KMG]B)\.max$/.exec(n)?.[1]).filter((x): x is string => x !== undefined);
    await Promise.all(
      sizes.map(async (size) => {
        const [u, e] = await Promise.all([readOptional(d, `hugetlb.${size}.current`), readOptional(d, `hugetlb.${size}.events`)]);
        s.hugetlb[size] = { usage: parseUint(u), max: 0, failcnt: parseKeyValues(e).max ?? 0 };
      }),
    );
    return s;
  }

  async oomKillCount(): Promise<number> {
    return parseKeyValues(await readOptional(this.dir, 'memory.events')).oom_kill ?? 0;
  }

  async killAll(signal: NodeJS.Signals | number): Promise<void> {
    const isKill = signal === 'SIGKILL' || signal === 9;
    if (isKill && (await fileExists(path.join(this.dir, 'cgroup.kill')))) {
      await writeCgroupFile(this.dir, 'cgroup.kill', '1', 'kill all');
      return;
    }
    // Freezing stops forks racing the kill loop; if it cannot complete, signal anyway.
    const canFreeze =
      (await fileExists(path.join(this.dir, 'cgroup.freeze'))) &&
      (await this.freeze().then(
        () => true,
        () => false,
      ));
    try {
      for (const pid of await this.pids()) {
        try {
          process.kill(pid, signal);
        } catch (err) {
          if (!isErrno(err, 'ESRCH')) throw new BerthError('INTERNAL', `cgroups: signalling pid ${pid}: ${String(err)}`, { cause: err });
        }
      }
    } finally {
      if (canFreeze) await this.thaw();
    }
  }

  async destroy(): Promise<void> {
    await removeCgroupDir(this.dir);
  }

  async exists(): Promise<boolean> {
    return fileExists(this.dir);
  }
}
