import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuSampler, defaultInterface, memoryFigures, nanoCores, parseNetDev, sumStats } from '../../src/daemon/container-stats';
import { CappedSink, execSyncProcess } from '../../src/daemon/container-exec';
import { criContainerStats, criPodStats } from '../../src/daemon/containers-cri';
import { emptyStats, UINT64_MAX } from '../../src/runtime/cgroups/stats';
import type { ContainerStatsView, PodStatsView } from '../../src/daemon/containers';
import type { ContainerMeta } from '../../src/daemon/container-store';
import type { PodRecord } from '../../src/daemon/pod-store';

test('nanoCores: CPU ns per wall second', () => {
  assert.equal(nanoCores(undefined, { at: 1n, usageNs: 5 }), undefined);
  // 0.5 s of CPU over 1 s of wall time = half a core
  assert.equal(nanoCores({ at: 1_000_000_000n, usageNs: 100 }, { at: 2_000_000_000n, usageNs: 100 + 500_000_000 }), 500_000_000);
  assert.equal(nanoCores({ at: 2n, usageNs: 0 }, { at: 2n, usageNs: 10 }), undefined);
  assert.equal(nanoCores({ at: 1n, usageNs: 10 }, { at: 2n, usageNs: 5 }), undefined, 'counter reset');
});

test('CpuSampler keeps the previous sample per key', () => {
  const s = new CpuSampler();
  assert.equal(s.sample('a', { at: 0n, usageNs: 0 }).usageNanoCores, undefined);
  const r = s.sample('a', { at: 2_000_000_000n, usageNs: 2_000_000_000 });
  assert.equal(r.usageNanoCores, 1_000_000_000);
  assert.equal(r.usageCoreNanoSeconds, 2_000_000_000);
  assert.equal(s.sample('b', { at: 2_000_000_000n, usageNs: 7 }).usageNanoCores, undefined);
  s.forget('a');
  assert.deepEqual(s.keys(), ['b']);
});

test('memoryFigures: working set, rss, faults, available (v1 and v2 keys)', () => {
  const v1 = emptyStats();
  v1.memory.usage.usage = 10_000;
  v1.memory.usage.limit = UINT64_MAX;
  v1.memory.raw = { total_inactive_file: 3000, total_rss: 4000, total_pgfault: 12, total_pgmajfault: 2, inactive_file: 1 };
  const m = memoryFigures(v1);
  assert.deepEqual(m, { workingSetBytes: 7000, usageBytes: 10_000, rssBytes: 4000, pageFaults: 12, majorPageFaults: 2, availableBytes: undefined });
  const v2 = emptyStats();
  v2.memory.usage.usage = 100;
  v2.memory.usage.limit = 1000;
  v2.memory.raw = { inactive_file: 500, anon: 60, pgfault: 3, pgmajfault: 1 };
  const m2 = memoryFigures(v2);
  assert.equal(m2.workingSetBytes, 0, 'never below 0');
  assert.equal(m2.availableBytes, 1000);
  assert.equal(m2.rssBytes, 60);
});

test('sumStats adds cpu, memory, raw counters and pids', () => {
  const a = emptyStats();
  a.cpu.usage.total = 5;
  a.memory.usage.usage = 10;
  a.memory.raw = { total_rss: 1 };
  a.pids.current = 2;
  const b = emptyStats();
  b.cpu.usage.total = 7;
  b.memory.usage.usage = 20;
  b.memory.raw = { total_rss: 3, total_pgfault: 4 };
  b.pids.current = 1;
  const s = sumStats([a, b], emptyStats());
  assert.equal(s.cpu.usage.total, 12);
  assert.equal(s.memory.usage.usage, 30);
  assert.deepEqual(s.memory.raw, { total_rss: 4, total_pgfault: 4 });
  assert.equal(s.pids.current, 3);
});

test('parseNetDev skips lo and picks eth0', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth1:      11       2    3    0    0     0          0         0       44       5    6    0    0     0       0          0
  eth0:    1234      10    1    0    0     0          0         0      567       8    2    0    0     0       0          0
`;
  const ifs = parseNetDev(text);
  assert.deepEqual(ifs.map((i) => i.name), ['eth1', 'eth0']);
  assert.deepEqual(defaultInterface(ifs), { name: 'eth0', rxBytes: 1234, rxErrors: 1, txBytes: 567, txErrors: 2 });
  assert.equal(defaultInterface([])?.name, undefined);
});

test('CappedSink caps and flags truncation', () => {
  const s = new CappedSink(5);
  s.push(Buffer.from('abc'));
  s.push(Buffer.from('defg'));
  s.push(Buffer.from('h'));
  assert.equal(s.bytes().toString(), 'abcde');
  assert.equal(s.truncated, true);
  const budget = { left: 4 };
  const a = new CappedSink(budget);
  const b = new CappedSink(budget);
  a.push(Buffer.from('xyz'));
  b.push(Buffer.from('12'));
  a.push(Buffer.from('w'));
  assert.equal(a.bytes().toString(), 'xyz');
  assert.equal(b.bytes().toString(), '1');
  assert.equal(budget.left, 0);
  assert.equal(a.truncated, true);
});

test('execSyncProcess: container defaults, new args, no terminal', () => {
  const base = { args: ['sleep', '1'], cwd: '/w', env: ['A=1'], user: { uid: 5, gid: 6 }, terminal: true, consoleSize: { height: 1, width: 2 } };
  const p = execSyncProcess(base, ['echo', 'hi']);
  assert.deepEqual(p.args, ['echo', 'hi']);
  assert.equal(p.cwd, '/w');
  assert.deepEqual(p.env, ['A=1']);
  assert.deepEqual(p.user, { uid: 5, gid: 6 });
  assert.equal(p.terminal, false);
  assert.equal(p.consoleSize, undefined);
  assert.deepEqual(base.args, ['sleep', '1'], 'base untouched');
  assert.throws(() => execSyncProcess(base, []), /cmd/);
});

test('CRI stats mapping', () => {
  const meta = { id: 'c1', metadata: { name: 'n', attempt: 1 }, labels: { a: 'b' }, annotations: {} } as unknown as ContainerMeta;
  const cv: ContainerStatsView = {
    meta,
    at: '123',
    cpu: { usageCoreNanoSeconds: 9, usageNanoCores: undefined },
    memory: { workingSetBytes: 1, usageBytes: 2, rssBytes: 3, pageFaults: 4, majorPageFaults: 5, availableBytes: 6 },
    writable: { mountpoint: '/s', bytes: 7, inodes: 8, at: '100' },
    processes: 1,
  };
  const c = criContainerStats(cv);
  assert.equal(c.attributes?.id, 'c1');
  assert.deepEqual(c.cpu, { timestamp: '123', usage_core_nano_seconds: { value: '9' } });
  assert.deepEqual(c.memory?.available_bytes, { value: '6' });
  assert.deepEqual(c.writable_layer?.used_bytes, { value: '7' });
  assert.deepEqual(c.writable_layer?.fs_id, { mountpoint: '/s' });
  const pod = { id: 'p1', metadata: { name: 'p', uid: 'u', namespace: 'ns', attempt: 0 }, labels: {}, annotations: {} } as unknown as PodRecord;
  const pv: PodStatsView = {
    pod,
    at: '5',
    cpu: { usageCoreNanoSeconds: 1, usageNanoCores: 2 },
    memory: cv.memory,
    processes: 3,
    network: { default: { name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 }, interfaces: [{ name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 }] },
    containers: [cv],
  };
  const p = criPodStats(pv);
  assert.equal(p.attributes?.id, 'p1');
  assert.deepEqual(p.linux?.cpu?.usage_nano_cores, { value: '2' });
  assert.deepEqual(p.linux?.process?.process_count, { value: '3' });
  assert.equal(p.linux?.network?.default_interface?.name, 'eth0');
  assert.equal(p.linux?.containers?.length, 1);
  assert.equal(criPodStats({ ...pv, network: null }).linux?.network, undefined);
});

test('ImageManager.find: repository@digest of an image pulled by tag', async (t) => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { ImageManager } = await import('../../src/daemon/images');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bes-img-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const { silentLogger } = await import('../../src/daemon/log');
  const mgr = new ImageManager({ root, hostsDir: path.join(root, 'certs.d'), log: silentLogger() });
  const d = (c: string): string => 'sha256:' + c.repeat(64);
  const desc = (digest: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 10 });
  await mgr.service.images.put({ name: 'gcr.io/x/img:all', target: desc(d('1')), manifest: desc(d('1')), config: desc(d('c')), layers: [], diffIds: [], platform: { os: 'linux', architecture: 'amd64' } });
  assert.equal((await mgr.find(`gcr.io/x/img@${d('1')}`)).id, d('c'));
  assert.equal((await mgr.status(`gcr.io/x/img@${d('1')}`))?.id, d('c'));
  assert.equal(await mgr.status(`gcr.io/x/img@${d('2')}`), null, 'another digest');
  assert.equal(await mgr.status(`gcr.io/x/other@${d('1')}`), null, 'another repository');
  assert.equal((await mgr.find('gcr.io/x/img:all')).id, d('c'));
});
