import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createCgroupManager,
  detectCgroupMode,
  expandSlice,
  normalizeCgroupsPath,
  parseCgroupMountinfo,
  parseProcCgroup,
  systemdCgroupPath,
} from '../../src/runtime/cgroups';
import { BerthError } from '../../src/runtime/errors';
import { fakeV1, fakeV2, put, rm, tmpdir } from './cgroups-fake';

function code(err: unknown): string {
  return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
}

test('detectCgroupMode: v2, hybrid, v1, none', (t) => {
  const v2 = fakeV2();
  const v1 = fakeV1();
  const pure = tmpdir();
  const empty = tmpdir();
  t.after(() => [path.dirname(v2.root), path.dirname(v1.root), pure, empty].forEach(rm));
  fs.mkdirSync(path.join(pure, 'memory'));
  assert.equal(detectCgroupMode(v2.root), 'v2');
  assert.equal(detectCgroupMode(v1.root), 'hybrid');
  assert.equal(detectCgroupMode(pure), 'v1');
  assert.throws(() => detectCgroupMode(empty), (e) => code(e) === 'UNSUPPORTED');
  assert.throws(() => detectCgroupMode(path.join(empty, 'nope')), (e) => code(e) === 'UNSUPPORTED');
});

test('parseCgroupMountinfo keeps cgroup mounts under the root, splits co-mounted controllers, unescapes', () => {
  const text = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '33 31 0:30 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '34 31 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd',
    '35 31 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
    '36 31 0:29 / /sys/fs/cgroup/cpu\\040copy rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '37 23 0:33 / /elsewhere/pids rw,relatime - cgroup cgroup rw,pids',
    '38 23 0:34 / /mnt/with\\040space rw - cgroup cgroup rw,blkio',
  ].join('\n');
  const m = parseCgroupMountinfo(text, '/sys/fs/cgroup');
  assert.deepEqual(m.v1, [
    { controllers: ['cpu', 'cpuacct'], mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/' },
    { controllers: ['memory'], mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc' },
    { controllers: ['name=systemd'], mountPoint: '/sys/fs/cgroup/systemd', root: '/' },
  ]);
  assert.deepEqual(m.v2, { mountPoint: '/sys/fs/cgroup/unified', root: '/' });
  const other = parseCgroupMountinfo(text, '/mnt');
  assert.equal(other.v1[0].mountPoint, '/mnt/with space');
});

test('parseProcCgroup', () => {
  const p = parseProcCgroup('9:name=systemd:/\n4:memory:/process_api/x\n1:cpu,cpuacct:/a\n0::/b\n');
  assert.deepEqual(p, { 'name=systemd': '/', memory: '/process_api/x', cpu: '/a', cpuacct: '/a', '': '/b' });
});

test('normalizeCgroupsPath: empty -> /<id>, absolute cleaned, relative kept relative and clamped', () => {
  assert.deepEqual(normalizeCgroupsPath('', 'c1'), { path: '/c1', relative: false });
  assert.deepEqual(normalizeCgroupsPath('/a/../b//c/', 'x'), { path: '/b/c', relative: false });
  assert.deepEqual(normalizeCgroupsPath('/../../etc', 'x'), { path: '/etc', relative: false });
  assert.deepEqual(normalizeCgroupsPath('pod/c1', 'x'), { path: 'pod/c1', relative: true });
  assert.deepEqual(normalizeCgroupsPath('../../c1', 'x'), { path: 'c1', relative: true });
  assert.throws(() => normalizeCgroupsPath('', 'a/b'), (e) => code(e) === 'INVALID_ARGUMENT');
  assert.throws(() => normalizeCgroupsPath('', '..'), (e) => code(e) === 'INVALID_ARGUMENT');
  assert.throws(() => normalizeCgroupsPath('..', 'x'), (e) => code(e) === 'INVALID_CONFIG');
  assert.throws(() => normalizeCgroupsPath('/', 'x'), (e) => code(e) === 'INVALID_CONFIG');
  assert.throws(() => normalizeCgroupsPath('/a/../..', 'x'), (e) => code(e) === 'INVALID_CONFIG');
});

test('v1 paths: absolute, default and relative cgroupsPath in every hierarchy', (t) => {
  const f = fakeV1();
  t.after(() => rm(path.dirname(f.root)));
  const abs = createCgroupManager({ cgroupsPath: '/berth/c1', containerId: 'c1', driver: 'cgroupfs', root: f.root, mountinfo: f.mountinfo });
  assert.equal(abs.mode, 'v1');
  const want: Record<string, string> = {};
  for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb']) want[c] = path.join(f.root, c, 'berth/c1');
  want['name=systemd'] = path.join(f.root, 'systemd', 'berth/c1');
  assert.deepEqual(abs.paths, want);

  const def = createCgroupManager({ cgroupsPath: '', containerId: 'abc', driver: 'cgroupfs', root: f.root, mountinfo: f.mountinfo });
  assert.equal(def.paths['memory'], path.join(f.root, 'memory', 'abc'));

  const rel = createCgroupManager({
    cgroupsPath: 'sub/c2',
    containerId: 'c2',
    driver: 'cgroupfs',
    root: f.root,
    mountinfo: f.mountinfo,
    procSelfCgroup: '9:name=systemd:/\n4:memory:/process_api/x\n1:cpu:/\n0::/\n',
  });
  assert.equal(rel.paths['memory'], path.join(f.root, 'memory', 'process_api/x/sub/c2'));
  assert.equal(rel.paths['cpu'], path.join(f.root, 'cpu', 'sub/c2'));
  // A controller missing from /proc/self/cgroup falls back to the hierarchy root.
  assert.equal(rel.paths['pids'], path.join(f.root, 'pids', 'sub/c2'));
});

test('v1 paths: co-mounted controllers share one dir; a scan of the root works without mountinfo', (t) => {
  const f = fakeV1({ comountCpu: true });
  t.after(() => rm(path.dirname(f.root)));
  const m = createCgroupManager({ cgroupsPath: '/x', containerId: 'x', driver: 'cgroupfs', root: f.root, mountinfo: f.mountinfo });
  assert.equal(m.paths['cpu'], path.join(f.root, 'cpu,cpuacct', 'x'));
  assert.equal(m.paths['cpuacct'], m.paths['cpu']);
  const scanned = createCgroupManager({ cgroupsPath: '/x', containerId: 'x', driver: 'cgroupfs', root: f.root });
  assert.deepEqual(scanned.paths, m.paths);
});

test('v1 paths: a hierarchy mounted from a non-root path maps the cgroup path under it', (t) => {
  const base = tmpdir();
  t.after(() => rm(base));
  fs.mkdirSync(path.join(base, 'memory'));
  const mi = `33 31 0:30 /docker/abc ${base}/memory rw,relatime - cgroup cgroup rw,memory\n`;
  const m = createCgroupManager({
    cgroupsPath: 'c1',
    containerId: 'c1',
    driver: 'cgroupfs',
    root: base,
    mountinfo: mi,
    procSelfCgroup: '4:memory:/docker/abc/inner\n',
  });
  assert.equal(m.paths['memory'], path.join(base, 'memory', 'inner/c1'));
});

test('v2 paths: absolute, relative to the caller cgroup', (t) => {
  const f = fakeV2();
  t.after(() => rm(path.dirname(f.root)));
  const m = createCgroupManager({ cgroupsPath: '/berth/c1', containerId: 'c1', driver: 'cgroupfs', root: f.root, mountinfo: f.mountinfo });
  assert.equal(m.mode, 'v2');
  assert.deepEqual(m.paths, { '': path.join(f.root, 'berth/c1') });
  const rel = createCgroupManager({
    cgroupsPath: 'c1',
    containerId: 'c1',
    driver: 'cgroupfs',
    root: f.root,
    mountinfo: f.mountinfo,
    procSelfCgroup: '0::/user.slice/session-1.scope\n',
  });
  assert.deepEqual(rel.paths, { '': path.join(f.root, 'user.slice/session-1.scope/c1') });
});

test('systemd driver: UNSUPPORTED when systemd is not running; slice:prefix:name expansion when it is', (t) => {
  const f = fakeV2();
  const run = tmpdir();
  t.after(() => [path.dirname(f.root), run].forEach(rm));
  assert.throws(
    () =>
      createCgroupManager({
        cgroupsPath: 'system.slice:berth:c1',
        containerId: 'c1',
        driver: 'systemd',
        root: f.root,
        mountinfo: f.mountinfo,
        systemdRunDir: path.join(run, 'absent'),
      }),
    (e: unknown) => code(e) === 'UNSUPPORTED' && (e as Error).message === 'systemd cgroup driver: systemd is not running on this host',
  );
  fs.mkdirSync(path.join(run, 'system'));
  const m = createCgroupManager({
    cgroupsPath: 'machine-pod1.slice:cri:c1',
    containerId: 'c1',
    driver: 'systemd',
    root: f.root,
    mountinfo: f.mountinfo,
    systemdRunDir: path.join(run, 'system'),
  });
  assert.deepEqual(m.paths, { '': path.join(f.root, 'machine.slice/machine-pod1.slice/cri-c1.scope') });
  assert.ok(m.warnings.some((w) => w.includes('cgroupfs')));
  assert.equal(expandSlice('a-b-c.slice'), '/a.slice/a-b.slice/a-b-c.slice');
  assert.equal(expandSlice('-.slice'), '');
  assert.equal(systemdCgroupPath('', 'id1'), '/system.slice/berth-id1.scope');
  assert.equal(systemdCgroupPath('user.slice::pod.slice', 'x'), '/user.slice/pod.slice');
  assert.throws(() => systemdCgroupPath('/abs/path', 'x'), (e) => code(e) === 'INVALID_CONFIG');
  assert.throws(() => expandSlice('a--b.slice'), (e) => code(e) === 'INVALID_CONFIG');
  assert.throws(() => expandSlice('nope'), (e) => code(e) === 'INVALID_CONFIG');
});

test('disabled driver: no paths, no-op lifecycle, refuses limits', async () => {
  const m = createCgroupManager({ cgroupsPath: '/x', containerId: 'x', driver: 'disabled' });
  assert.equal(m.mode, 'disabled');
  assert.deepEqual(m.paths, {});
  await m.create();
  await m.apply(1);
  await m.set({});
  await m.set({ devices: [] });
  await assert.rejects(m.set({ memory: { limit: 1 } }), (e: unknown) => code(e) === 'UNSUPPORTED' && /memory/.test((e as Error).message));
  assert.deepEqual(await m.pids(), []);
  assert.equal(await m.exists(), false);
  await m.destroy();
});

test('a v1 host with nothing mounted under the root is UNSUPPORTED', (t) => {
  const base = tmpdir();
  t.after(() => rm(base));
  put(path.join(base, 'junk'), {});
  assert.throws(
    () => createCgroupManager({ cgroupsPath: '/x', containerId: 'x', driver: 'cgroupfs', root: base, mountinfo: '' }),
    (e) => code(e) === 'UNSUPPORTED',
  );
});
