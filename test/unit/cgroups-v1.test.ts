import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CgroupManager, createCgroupManager, statsToRuncJson } from '../../src/runtime/cgroups';
import { BerthError } from '../../src/runtime/errors';
import { fakeV1, populateV1, put, read, recordWrites, rm } from './cgroups-fake';

function code(err: unknown): string {
  return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
}

function setup(t: { after: (fn: () => void) => void }, opts: { comountCpu?: boolean; populate?: boolean } = {}) {
  const f = fakeV1(opts);
  t.after(() => rm(path.dirname(f.root)));
  if (opts.populate !== false) populateV1(f.root, 'berth/c1', opts.comountCpu);
  const m = createCgroupManager({ cgroupsPath: '/berth/c1', containerId: 'c1', driver: 'cgroupfs', root: f.root, mountinfo: f.mountinfo });
  const at = (c: string, file: string) => path.join(f.hier(c), 'berth/c1', file);
  return { f, m, at };
}

test('v1 create: mkdir in every hierarchy; cpuset cpus/mems copied from the parent at each level', async (t) => {
  const { f, m } = setup(t, { populate: false });
  // The kernel creates empty cpuset.cpus/mems in new cpuset cgroups; simulate for the intermediate level.
  put(path.join(f.root, 'cpuset', 'berth'), { 'cpuset.cpus': '', 'cpuset.mems': '' });
  put(path.join(f.root, 'cpuset', 'berth', 'c1'), { 'cpuset.cpus': '\n', 'cpuset.mems': '' });
  const writes = await recordWrites(() => m.create());
  for (const d of new Set(Object.values(m.paths))) assert.ok(fs.statSync(d).isDirectory(), d);
  assert.equal(read(path.join(f.root, 'cpuset/berth/cpuset.cpus')), '0-3');
  assert.equal(read(path.join(f.root, 'cpuset/berth/c1/cpuset.mems')), '0');
  assert.deepEqual(
    writes.map(([p]) => path.relative(f.root, p)),
    ['cpuset/berth/cpuset.cpus', 'cpuset/berth/cpuset.mems', 'cpuset/berth/c1/cpuset.cpus', 'cpuset/berth/c1/cpuset.mems'],
  );
  assert.equal(await m.exists(), true);
  // A fake tree holds regular files, which cgroupfs would not: destroy refuses to remove them.
  await assert.rejects(m.destroy(), (e) => code(e) === 'FAILED_PRECONDITION');
  for (const f2 of ['cpuset.cpus', 'cpuset.mems']) fs.unlinkSync(path.join(f.root, 'cpuset/berth/c1', f2));
  await m.destroy();
  assert.equal(await m.exists(), false);
  assert.ok(fs.existsSync(path.join(f.root, 'memory', 'berth')), 'parents are left alone');
});

test('v1 create on an existing initialised cpuset writes nothing', async (t) => {
  const { f, m } = setup(t, { populate: false });
  put(path.join(f.root, 'cpuset', 'berth', 'c1'), { 'cpuset.cpus': '1', 'cpuset.mems': '0' });
  const writes = await recordWrites(() => m.create());
  assert.deepEqual(writes, []);
  assert.equal(read(path.join(f.root, 'cpuset/berth/c1/cpuset.cpus')), '1');
});

test('v1 apply writes the pid once per hierarchy (co-mounted cpu,cpuacct once)', async (t) => {
  const { f, m } = setup(t, { comountCpu: true });
  const writes = await recordWrites(() => m.apply(4242));
  assert.equal(writes.length, 9);
  assert.ok(writes.every(([p, v]) => p.endsWith('/berth/c1/cgroup.procs') && v === '4242'));
  assert.equal(read(path.join(f.root, 'cpu,cpuacct/berth/c1/cgroup.procs')), '4242');
  await assert.rejects(m.apply(1.5), (e) => code(e) === 'INVALID_CONFIG');
});

test('v1 set: every resource lands in the right file with the right value', async (t) => {
  const { m, at } = setup(t);
  const writes = await recordWrites(() =>
    m.set({
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
        { allow: true, type: 'c', major: 136, access: 'rw' },
        { allow: false, type: 'b', major: 8, minor: 0, access: 'm' },
      ],
      memory: {
        limit: 33554432,
        reservation: 16777216,
        swap: 67108864,
        kernel: 1000000,
        swappiness: 10,
        disableOOMKiller: true,
        useHierarchy: true,
      },
      cpu: { shares: 512, quota: 50000, period: 100000, burst: 1000, realtimePeriod: 1000000, realtimeRuntime: 950000, idle: 0, cpus: '0-1', mems: '0' },
      pids: { limit: 64 },
      blockIO: {
        weight: 300,
        weightDevice: [{ major: 8, minor: 0, weight: 200 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 16, rate: 2048 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 50 }],
      },
      hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
    }),
  );
  const rel = writes.map(([p, v]) => [p.split('/berth/c1/')[1], v]);
  assert.deepEqual(rel, [
    ['devices.deny', 'a'],
    ['devices.deny', 'a *:* rwm'],
    ['devices.allow', 'c 1:3 rwm'],
    ['devices.allow', 'c 136:* rw'],
    ['devices.deny', 'b 8:0 m'],
    ['memory.limit_in_bytes', '33554432'],
    ['memory.memsw.limit_in_bytes', '67108864'],
    ['memory.soft_limit_in_bytes', '16777216'],
    ['memory.kmem.limit_in_bytes', '1000000'],
    ['memory.swappiness', '10'],
    ['memory.oom_control', '1'],
    ['memory.use_hierarchy', '1'],
    ['cpu.shares', '512'],
    ['cpu.cfs_period_us', '100000'],
    ['cpu.cfs_quota_us', '50000'],
    ['cpu.cfs_burst_us', '1000'],
    ['cpu.rt_period_us', '1000000'],
    ['cpu.rt_runtime_us', '950000'],
    ['cpu.idle', '0'],
    ['cpuset.cpus', '0-1'],
    ['cpuset.mems', '0'],
    ['pids.max', '64'],
    ['blkio.bfq.weight', '300'],
    ['blkio.bfq.weight_device', '8:0 200'],
    ['blkio.throttle.read_bps_device', '8:0 1048576'],
    ['blkio.throttle.write_bps_device', '8:16 2048'],
    ['blkio.throttle.read_iops_device', '8:0 100'],
    ['blkio.throttle.write_iops_device', '8:0 50'],
    ['hugetlb.2MB.limit_in_bytes', '4194304'],
  ]);
  assert.equal(read(at('memory', 'memory.limit_in_bytes')), '33554432');
  assert.equal(read(at('cpuset', 'cpuset.cpus')), '0-1');
  assert.equal(read(at('cpu', 'cpu.shares')), '512');
  assert.deepEqual(m.warnings, []);
});

test('v1 set: unlimited values and blkio.weight preferred over bfq', async (t) => {
  const { m, at } = setup(t);
  fs.writeFileSync(at('blkio', 'blkio.weight'), '');
  const writes = await recordWrites(() =>
    m.set({ memory: { limit: -1 }, cpu: { quota: -1 }, pids: { limit: -1 }, blockIO: { weight: 500 } }),
  );
  assert.deepEqual(
    writes.map(([p, v]) => [path.basename(p), v]),
    [
      // lifting the memory limit lifts memory+swap first
      ['memory.limit_in_bytes', '-1'],
      ['memory.memsw.limit_in_bytes', '-1'],
      ['cpu.cfs_quota_us', '-1'],
      ['pids.max', 'max'],
      ['blkio.weight', '500'],
    ],
  );
});

test('v1 set: zero values mean "leave alone" and nothing is written', async (t) => {
  const { m } = setup(t);
  const writes = await recordWrites(() =>
    m.set({ memory: {}, cpu: { shares: 0, quota: 0, period: 0 }, pids: { limit: 0 }, blockIO: { weight: 0 }, devices: [], hugepageLimits: [] }),
  );
  assert.deepEqual(writes, []);
});

test('v1 set: missing controllers are UNSUPPORTED only when asked for', async (t) => {
  const { m } = setup(t);
  await m.set({ memory: { limit: 1 << 25 } });
  await assert.rejects(m.set({ network: { classID: 0x100001 } }), (e: unknown) => {
    return code(e) === 'UNSUPPORTED' && /linux\.resources\.network\.classID: the net_cls cgroup controller is not mounted/.test((e as Error).message);
  });
  await assert.rejects(m.set({ network: { priorities: [{ name: 'eth0', priority: 5 }] } }), (e) => code(e) === 'UNSUPPORTED');
  await assert.rejects(m.set({ rdma: { mlx5_1: { hcaHandles: 3 } } }), (e: unknown) => code(e) === 'UNSUPPORTED' && /rdma/.test((e as Error).message));
  await assert.rejects(m.set({ unified: { 'memory.high': '1' } }), (e: unknown) => code(e) === 'UNSUPPORTED' && /unified/.test((e as Error).message));
  // A controller mounted but missing a file: the error names the key and the file.
  await assert.rejects(m.set({ blockIO: { leafWeight: 100 } }), (e: unknown) => {
    return code(e) === 'UNSUPPORTED' && /blockIO\.leafWeight/.test((e as Error).message) && /blkio\.leaf_weight/.test((e as Error).message);
  });
});

test('v1 set: swap without swap accounting; kmem unsupported is a warning', async (t) => {
  const { m, at } = setup(t);
  fs.unlinkSync(at('memory', 'memory.memsw.limit_in_bytes'));
  fs.unlinkSync(at('memory', 'memory.kmem.limit_in_bytes'));
  await assert.rejects(m.set({ memory: { limit: 100, swap: 200 } }), (e: unknown) => {
    return code(e) === 'UNSUPPORTED' && /memory\.swap: swap accounting is not enabled/.test((e as Error).message);
  });
  const writes = await recordWrites(() => m.set({ memory: { limit: 100, swap: -1, kernel: 5 } }));
  assert.deepEqual(writes.map(([p, v]) => [path.basename(p), v]), [['memory.limit_in_bytes', '100']]);
  assert.equal(m.warnings.length, 1);
  assert.match(m.warnings[0], /memory\.kernel: ignored/);
});

test('v1 set: validation errors name the JSON key', async (t) => {
  const { m } = setup(t);
  const cases: [Parameters<CgroupManager['set']>[0], RegExp][] = [
    [{ memory: { swappiness: 101 } }, /memory\.swappiness: 101 is not in 0\.\.100/],
    [{ memory: { limit: 1.5 } }, /memory\.limit: 1\.5 is not an integer/],
    [{ devices: [{ allow: true, type: 'x' }] }, /devices\[0\]\.type/],
    [{ devices: [{ allow: true, access: 'rwx' }] }, /devices\[0\]\.access/],
    [{ hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, /hugepageLimits\[0\]\.pageSize/],
    [{ cpu: { shares: NaN } }, /cpu\.shares/],
  ];
  for (const [res, re] of cases) {
    await assert.rejects(m.set(res), (e: unknown) => code(e) === 'INVALID_CONFIG' && re.test((e as Error).message), re.source);
  }
});

test('v1 write errors name key, value and file', async (t) => {
  const { m, at } = setup(t);
  fs.unlinkSync(at('pids', 'pids.max'));
  fs.mkdirSync(at('pids', 'pids.max'));
  await assert.rejects(m.set({ pids: { limit: 5 } }), (e: unknown) => {
    const msg = (e as Error).message;
    return msg.includes('linux.resources.pids.limit') && msg.includes('"5"') && msg.includes(at('pids', 'pids.max'));
  });
});

test('v1 update: checkBeforeUpdate refuses a limit below usage', async (t) => {
  const { m, at } = setup(t);
  fs.writeFileSync(at('memory', 'memory.usage_in_bytes'), '50000000\n');
  await assert.rejects(m.update({ memory: { limit: 40000000, checkBeforeUpdate: true } }), (e: unknown) => {
    return code(e) === 'FAILED_PRECONDITION' && /below the current usage 50000000/.test((e as Error).message);
  });
  await m.update({ memory: { limit: 40000000 } });
  assert.equal(read(at('memory', 'memory.limit_in_bytes')), '40000000');
  await m.update({ memory: { limit: 60000000, checkBeforeUpdate: true } });
  assert.equal(read(at('memory', 'memory.limit_in_bytes')), '60000000');
});

test('v1 freeze/thaw/freezerState via freezer.state', async (t) => {
  const { m, at } = setup(t);
  fs.writeFileSync(at('freezer', 'freezer.state'), 'THAWED\n');
  assert.equal(await m.freezerState(), 'thawed');
  await m.freeze();
  assert.equal(read(at('freezer', 'freezer.state')), 'FROZEN');
  assert.equal(await m.freezerState(), 'frozen');
  await m.thaw();
  assert.equal(read(at('freezer', 'freezer.state')), 'THAWED');
  fs.writeFileSync(at('freezer', 'freezer.state'), 'FREEZING\n');
  assert.equal(await m.freezerState(), 'freezing');
});

test('v1 pids are collected recursively', async (t) => {
  const { m, at } = setup(t);
  fs.writeFileSync(at('pids', 'cgroup.procs'), '10\n11\n');
  put(path.join(path.dirname(at('pids', 'x')), 'child', 'grandchild'), { 'cgroup.procs': '12\n' });
  assert.deepEqual((await m.pids()).sort((a, b) => a - b), [10, 11, 12]);
});

test('v1 killAll freezes, signals every pid, thaws', async (t) => {
  const { m, at } = setup(t);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
  assert.ok(child.pid);
  fs.writeFileSync(at('pids', 'cgroup.procs'), `${child.pid}\n999999999\n`);
  fs.writeFileSync(at('freezer', 'freezer.state'), 'THAWED\n');
  const writes = await recordWrites(() => m.killAll('SIGTERM'));
  assert.deepEqual(
    writes.map(([p, v]) => [path.basename(p), v]),
    [
      ['freezer.state', 'FROZEN'],
      ['freezer.state', 'THAWED'],
    ],
  );
  assert.equal(await exited, 'SIGTERM');
});

test('v1 stats parse the sample files into runc events shape', async (t) => {
  const { m, at } = setup(t);
  put(path.dirname(at('cpuacct', 'x')), {
    'cpuacct.usage': '123456789\n',
    'cpuacct.usage_percpu': '100000000 23456789 \n',
    'cpuacct.usage_percpu_user': '70000000 3456789\n',
    'cpuacct.usage_percpu_sys': '30000000 20000000\n',
    'cpuacct.stat': 'user 7\nsystem 3\n',
  });
  put(path.dirname(at('cpu', 'x')), { 'cpu.stat': 'nr_periods 20\nnr_throttled 5\nthrottled_time 4000\nnr_bursts 0\nburst_time 0\n' });
  put(path.dirname(at('cpuset', 'x')), { 'cpuset.cpus': '0-1,3\n', 'cpuset.mems': '0\n', 'cpuset.sched_load_balance': '1\n' });
  put(path.dirname(at('memory', 'x')), {
    'memory.usage_in_bytes': '1048576\n',
    'memory.max_usage_in_bytes': '2097152\n',
    'memory.failcnt': '7\n',
    'memory.limit_in_bytes': '33554432\n',
    'memory.memsw.usage_in_bytes': '1048576\n',
    'memory.memsw.limit_in_bytes': '9223372036854771712\n',
    'memory.memsw.failcnt': '0\n',
    'memory.stat': 'cache 4096\nrss 1044480\ntotal_cache 4096\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
  });
  put(path.dirname(at('pids', 'x')), { 'pids.current': '3\n', 'pids.max': 'max\n' });
  put(path.dirname(at('blkio', 'x')), {
    'blkio.bfq.io_service_bytes_recursive': 'Total 0\n',
    'blkio.throttle.io_service_bytes_recursive': '8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n',
    'blkio.throttle.io_serviced_recursive': '8:0 Read 1\n8:0 Write 2\nTotal 3\n',
  });
  put(path.dirname(at('hugetlb', 'x')), {
    'hugetlb.2MB.usage_in_bytes': '2097152\n',
    'hugetlb.2MB.max_usage_in_bytes': '4194304\n',
    'hugetlb.2MB.failcnt': '1\n',
  });
  const s = await m.stats();
  assert.deepEqual(s.cpu.usage, {
    total: 123456789,
    percpu: [100000000, 23456789],
    percpu_kernel: [30000000, 20000000],
    percpu_user: [70000000, 3456789],
    kernel: 30000000,
    user: 70000000,
  });
  assert.deepEqual(s.cpu.throttling, { periods: 20, throttledPeriods: 5, throttledTime: 4000 });
  assert.deepEqual(s.cpuset.cpus, [0, 1, 3]);
  assert.equal(s.cpuset.sched_load_balance, 1);
  assert.deepEqual(s.memory.usage, { usage: 1048576, max: 2097152, failcnt: 7, limit: 33554432 });
  assert.equal(s.memory.swap.limit, 18446744073709551615);
  assert.equal(s.memory.cache, 4096);
  assert.equal(s.memory.raw.rss, 1044480);
  assert.equal(s.memory.event_count.oom_kill, 2);
  assert.deepEqual(s.pids, { current: 3, limit: 0 });
  assert.deepEqual(s.blkio.ioServiceBytesRecursive, [
    { major: 8, minor: 0, op: 'Read', value: 4096 },
    { major: 8, minor: 0, op: 'Write', value: 8192 },
    { major: 8, minor: 0, op: 'Total', value: 12288 },
  ]);
  assert.equal(s.blkio.ioServicedRecursive.length, 2);
  assert.deepEqual(s.hugetlb, { '2MB': { usage: 2097152, max: 4194304, failcnt: 1 }, '1GB': { usage: 0, max: 0, failcnt: 0 } });
  assert.equal(await m.oomKillCount(), 2);

  const j = statsToRuncJson(s) as { pids: Record<string, number>; memory: { kernel: Record<string, number> }; cpu: { throttling: Record<string, number> } };
  assert.deepEqual(j.pids, { current: 3 });
  assert.deepEqual(j.memory.kernel, { limit: 0, failcnt: 0 });
  assert.deepEqual(j.cpu.throttling, { periods: 20, throttledPeriods: 5, throttledTime: 4000 });
});

test('v1 destroy removes child cgroups first and tolerates a missing cgroup', async (t) => {
  const { f, m } = setup(t, { populate: false });
  await m.create();
  fs.mkdirSync(path.join(m.paths['memory'], 'nested', 'deeper'), { recursive: true });
  await m.destroy();
  assert.equal(fs.existsSync(m.paths['memory']), false);
  assert.equal(fs.existsSync(path.join(f.root, 'memory/berth')), true);
  await m.destroy();
});
