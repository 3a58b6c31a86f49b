import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  blkioWeightToIoWeight,
  createCgroupManager,
  deviceRuleString,
  devicesAllowAll,
  sharesToWeight,
  swapToV2,
} from '../../src/runtime/cgroups';
import { BerthError } from '../../src/runtime/errors';
import { V2_FILES, fakeV2, put, read, recordWrites, rm, touch } from './cgroups-fake';

function code(err: unknown): string {
  return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
}

function setup(t: { after: (fn: () => void) => void }, populate = true) {
  const f = fakeV2();
  t.after(() => rm(path.dirname(f.root)));
  const dir = path.join(f.root, 'berth/c1');
  if (populate) touch(dir, V2_FILES);
  const m = createCgroupManager({ cgroupsPath: '/berth/c1', containerId: 'c1', driver: 'cgroupfs', root: f.root, mountinfo: f.mountinfo });
  return { f, m, dir, at: (file: string) => path.join(dir, file) };
}

test('conversions: shares -> weight, blkio weight -> io.weight, swap -> swap.max', () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(sharesToWeight(0), 0);
  assert.equal(blkioWeightToIoWeight(10), 1);
  assert.equal(blkioWeightToIoWeight(500), 4950);
  assert.equal(blkioWeightToIoWeight(1000), 10000);
  assert.equal(swapToV2(undefined, 100), undefined);
  assert.equal(swapToV2(-1, 100), 'max');
  assert.equal(swapToV2(300, 100), '200');
  assert.equal(swapToV2(100, 100), '0');
  assert.throws(() => swapToV2(50, 100), (e: unknown) => code(e) === 'INVALID_CONFIG' && /memory\.swap: 50 is below/.test((e as Error).message));
  assert.throws(() => swapToV2(300, undefined), (e: unknown) => code(e) === 'INVALID_CONFIG' && /needs a memory limit/.test((e as Error).message));
  assert.equal(deviceRuleString({ allow: true }, 0), 'a *:* rwm');
  assert.equal(deviceRuleString({ allow: true, type: 'b', major: 8, minor: -1, access: 'r' }, 0), 'b 8:* r');
  assert.equal(devicesAllowAll(undefined), true);
  assert.equal(devicesAllowAll([]), true);
  assert.equal(devicesAllowAll([{ allow: false, access: 'rwm' }, { allow: true, type: 'a', access: 'rwm' }]), true);
  assert.equal(devicesAllowAll([{ allow: false, access: 'rwm' }]), false);
  assert.equal(devicesAllowAll([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]), false);
  assert.equal(devicesAllowAll([{ allow: true, access: 'rw' }]), false);
});

test('v2 create enables the parent controllers at every level, then mkdir', async (t) => {
  const { f, m, dir } = setup(t, false);
  put(path.join(f.root, 'berth'), { 'cgroup.controllers': 'cpu memory pids\n', 'cgroup.subtree_control': 'memory\n' });
  const writes = await recordWrites(() => m.create());
  assert.deepEqual(
    writes.map(([p, v]) => [path.relative(f.root, p), v]),
    [
      ['cgroup.subtree_control', '+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc'],
      ['berth/cgroup.subtree_control', '+cpu +pids'],
    ],
  );
  assert.ok(fs.statSync(dir).isDirectory());
  assert.equal(await m.exists(), true);
  await m.destroy();
  assert.equal(await m.exists(), false);
});

test('v2 apply writes cgroup.procs; a cgroup not created is NOT_FOUND', async (t) => {
  const { m, at } = setup(t);
  await m.apply(77);
  assert.equal(read(at('cgroup.procs')), '77');
  const { m: m2 } = setup(t, false);
  await assert.rejects(m2.apply(77), (e: unknown) => code(e) === 'NOT_FOUND' && /the cgroup does not exist/.test((e as Error).message));
});

test('v2 set: every resource to the right file with the converted value', async (t) => {
  const { m } = setup(t);
  const writes = await recordWrites(() =>
    m.set({
      devices: [{ allow: false, access: 'rwm' }, { allow: true }],
      memory: { limit: 100 << 20, swap: 300 << 20, reservation: 50 << 20, useHierarchy: true },
      cpu: { shares: 1024, quota: 50000, period: 100000, burst: 10000, idle: 1, cpus: '0', mems: '0' },
      pids: { limit: 100 },
      blockIO: {
        weight: 500,
        weightDevice: [{ major: 8, minor: 0, weight: 10 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 0 }],
      },
      hugepageLimits: [{ pageSize: '2MB', limit: -1 }],
      rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 1000 } },
      unified: { 'memory.high': '90000000', 'cpu.max': '20000 100000' },
    }),
  );
  assert.deepEqual(
    writes.map(([p, v]) => [path.basename(p), v]),
    [
      ['memory.swap.max', String(200 << 20)],
      ['memory.max', String(100 << 20)],
      ['memory.low', String(50 << 20)],
      ['cpu.weight', '39'],
      ['cpu.max', '50000 100000'],
      ['cpu.max.burst', '10000'],
      ['cpu.idle', '1'],
      ['cpuset.cpus', '0'],
      ['cpuset.mems', '0'],
      ['pids.max', '100'],
      ['io.weight', 'default 4950'],
      ['io.weight', '8:0 1'],
      ['io.max', '8:0 rbps=1000'],
      ['io.max', '8:16 wiops=max'],
      ['hugetlb.2MB.max', 'max'],
      ['rdma.max', 'mlx5_1 hca_handle=3 hca_object=1000'],
      ['memory.high', '90000000'],
      ['cpu.max', '20000 100000'],
    ],
  );
  assert.deepEqual(m.warnings, []);
});

test('v2 set: io.bfq.weight takes the blkio scale directly; quota -1 is max', async (t) => {
  const { m, at } = setup(t);
  fs.writeFileSync(at('io.bfq.weight'), 'default 100\n');
  const writes = await recordWrites(() => m.set({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 20 }] }, cpu: { quota: -1, period: 50000 } }));
  assert.deepEqual(
    writes.map(([p, v]) => [path.basename(p), v]),
    [
      ['cpu.max', 'max 50000'],
      ['io.bfq.weight', '500'],
      ['io.bfq.weight', '8:0 20'],
    ],
  );
});

test('v2 set: refusals name what cannot be honoured, and nothing is written first', async (t) => {
  const { m } = setup(t);
  const cases: [Parameters<typeof m.set>[0], string, RegExp][] = [
    [{ memory: { limit: 1 }, devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3 }] }, 'UNSUPPORTED', /^device cgroup rules on cgroup v2 are not supported yet$/],
    [{ memory: { limit: 1 }, network: { classID: 1 } }, 'UNSUPPORTED', /network/],
    [{ memory: { limit: 1 }, cpu: { realtimeRuntime: 1000 } }, 'UNSUPPORTED', /realtime/],
    [{ memory: { limit: 1 }, blockIO: { leafWeight: 100 } }, 'UNSUPPORTED', /leafWeight/],
    [{ memory: { limit: 1 }, unified: { '../../etc/passwd': 'x' } }, 'INVALID_CONFIG', /unified: key/],
    [{ memory: { limit: 1 }, unified: { 'a/b': 'x' } }, 'INVALID_CONFIG', /unified: key/],
  ];
  for (const [res, c, re] of cases) {
    const writes = await recordWrites(() =>
      assert.rejects(m.set(res), (e: unknown) => code(e) === c && re.test((e as Error).message), re.source),
    );
    assert.deepEqual(writes, [], re.source);
  }
});

test('v2 set: unified key naming a missing file is UNSUPPORTED naming the key', async (t) => {
  const { m } = setup(t);
  await assert.rejects(m.set({ unified: { 'memory.oom.group': '1' } }), (e: unknown) => {
    return code(e) === 'UNSUPPORTED' && (e as Error).message.includes('unified["memory.oom.group"]');
  });
});

test('v2 set: v1-only memory knobs become warnings; swap max without swap accounting is skipped', async (t) => {
  const { m, at } = setup(t);
  fs.unlinkSync(at('memory.swap.max'));
  const writes = await recordWrites(() => m.set({ memory: { limit: 1000, swap: -1, kernel: 5, kernelTCP: 5, swappiness: 10, disableOOMKiller: true } }));
  assert.deepEqual(writes.map(([p, v]) => [path.basename(p), v]), [['memory.max', '1000']]);
  assert.equal(m.warnings.length, 4);
  await assert.rejects(m.set({ memory: { limit: 1000, swap: 2000 } }), (e) => code(e) === 'UNSUPPORTED');
});

test('v2 update: checkBeforeUpdate against memory.current', async (t) => {
  const { m, at } = setup(t);
  fs.writeFileSync(at('memory.current'), '5000\n');
  await assert.rejects(m.update({ memory: { limit: 4096, checkBeforeUpdate: true } }), (e) => code(e) === 'FAILED_PRECONDITION');
  await m.update({ memory: { limit: 8192, checkBeforeUpdate: true } });
  assert.equal(read(at('memory.max')), '8192');
});

test('v2 freeze/thaw via cgroup.freeze and cgroup.events', async (t) => {
  const { m, at } = setup(t);
  fs.writeFileSync(at('cgroup.freeze'), '0\n');
  fs.writeFileSync(at('cgroup.events'), 'populated 1\nfrozen 0\n');
  assert.equal(await m.freezerState(), 'thawed');
  fs.writeFileSync(at('cgroup.events'), 'populated 1\nfrozen 1\n');
  await m.freeze();
  assert.equal(read(at('cgroup.freeze')), '1');
  assert.equal(await m.freezerState(), 'frozen');
  fs.writeFileSync(at('cgroup.events'), 'populated 1\nfrozen 0\n');
  assert.equal(await m.freezerState(), 'freezing');
  await m.thaw();
  assert.equal(read(at('cgroup.freeze')), '0');
  assert.equal(await m.freezerState(), 'thawed');
});

test('v2 killAll SIGKILL uses cgroup.kill', async (t) => {
  const { m, at } = setup(t);
  fs.writeFileSync(at('cgroup.procs'), '999999999\n');
  const writes = await recordWrites(() => m.killAll('SIGKILL'));
  assert.deepEqual(writes.map(([p, v]) => [path.basename(p), v]), [['cgroup.kill', '1']]);
});

test('v2 stats and oomKillCount from sample files', async (t) => {
  const { m, dir } = setup(t);
  put(dir, {
    'cpu.stat': 'usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 30\n',
    'cpuset.cpus.effective': '0-1\n',
    'cpuset.mems.effective': '0\n',
    'memory.current': '4096\n',
    'memory.peak': '8192\n',
    'memory.max': 'max\n',
    'memory.events': 'low 0\nhigh 1\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n',
    'memory.swap.current': '1024\n',
    'memory.swap.max': 'max\n',
    'memory.stat': 'anon 4000\nfile 96\n',
    'pids.current': '4\n',
    'pids.max': '64\n',
    'io.stat': '8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
    'hugetlb.2MB.current': '2097152\n',
    'hugetlb.2MB.events': 'max 5\n',
  });
  const s = await m.stats();
  assert.deepEqual(s.cpu.usage, { total: 2000000, percpu: [], percpu_kernel: [], percpu_user: [], kernel: 500000, user: 1500000 });
  assert.deepEqual(s.cpu.throttling, { periods: 10, throttledPeriods: 2, throttledTime: 30000 });
  assert.deepEqual(s.cpuset.cpus, [0, 1]);
  assert.deepEqual(s.memory.usage, { usage: 4096, max: 8192, limit: 18446744073709551615, failcnt: 3 });
  assert.deepEqual(s.memory.swap, { usage: 5120, max: 0, limit: 18446744073709551615, failcnt: 0 });
  assert.equal(s.memory.cache, 96);
  assert.deepEqual(s.memory.event_count, { low: 0, high: 1, max: 3, oom: 2, oom_kill: 1 });
  assert.deepEqual(s.pids, { current: 4, limit: 64 });
  assert.equal(s.blkio.ioServiceBytesRecursive.length, 3);
  assert.deepEqual(s.blkio.ioServiceBytesRecursive[0], { major: 8, minor: 0, op: 'Read', value: 4096 });
  assert.deepEqual(s.blkio.ioServicedRecursive[0], { major: 8, minor: 0, op: 'Read', value: 1 });
  assert.deepEqual(s.hugetlb, { '2MB': { usage: 2097152, max: 0, failcnt: 5 } });
  assert.equal(await m.oomKillCount(), 1);
});

test('v2 pids recursive', async (t) => {
  const { m, dir } = setup(t);
  put(dir, { 'cgroup.procs': '5\n' });
  put(path.join(dir, 'sub'), { 'cgroup.procs': '6\n7\n' });
  assert.deepEqual((await m.pids()).sort((a, b) => a - b), [5, 6, 7]);
});

test('v2 killAll with another signal freezes, signals each pid, thaws', async (t) => {
  const { m, at } = setup(t);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
  fs.writeFileSync(at('cgroup.procs'), `${child.pid}\n`);
  fs.writeFileSync(at('cgroup.events'), 'populated 1\nfrozen 1\n');
  const writes = await recordWrites(() => m.killAll('SIGINT'));
  assert.deepEqual(
    writes.map(([p, v]) => [path.basename(p), v]),
    [
      ['cgroup.freeze', '1'],
      ['cgroup.freeze', '0'],
    ],
  );
  assert.equal(await exited, 'SIGINT');
});
