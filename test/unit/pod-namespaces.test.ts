import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseMountInfo, mountsAt } from '../../src/pod/mounts';
import { createPodNamespaces, listPodNamespaceIds, loadPodNamespaces, podNamespaceDir, removePodNamespaces } from '../../src/pod/namespaces';
import { pausePlan } from '../../src/pod/pause';
import { encodePlan } from '../../src/runtime/plan/encode';
import { CLONE_NEWNET, CLONE_NEWPID } from '../../src/runtime/plan/linux';

const MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
52 27 254:0 /run/berth/pods /run/berth/pods rw,relatime - ext4 /dev/vda rw
56 52 0:4 net:[4026532254] /run/berth/pods/p1/ns/net rw - nsfs nsfs rw
57 52 0:4 net:[4026532299] /run/berth/pods/p1/ns/net rw - nsfs nsfs rw
58 27 0:50 / /mnt/with\\040space rw master:3 - tmpfs tmpfs rw
`;

test('mountinfo: fields, optional propagation tags, octal escapes, stacked mounts', () => {
  const t = parseMountInfo(MOUNTINFO);
  assert.equal(t.length, 6);
  assert.deepEqual(t[1].optional, ['shared:1']);
  assert.equal(t[3].root, 'net:[4026532254]');
  assert.equal(t[3].fstype, 'nsfs');
  assert.equal(t[5].mountPoint, '/mnt/with space');
  assert.deepEqual(t[5].optional, ['master:3']);
  assert.deepEqual(mountsAt('/run/berth/pods/p1/ns/net', t).map((m) => m.mountId), [56, 57]);
  assert.deepEqual(mountsAt('/run/berth/pods/p1/ns/ipc', t), []);
});

test('pod ids and hostnames are checked before anything is created', async () => {
  assert.equal(podNamespaceDir('abc', '/run/berth/pods'), '/run/berth/pods/abc/ns');
  for (const bad of ['', '../x', 'a/b', '.hidden', 'x'.repeat(200)]) {
    assert.throws(() => podNamespaceDir(bad), /invalid pod id/);
    await assert.rejects(createPodNamespaces({ podId: bad, runtimeRoot: '/nonexistent/never' }), /invalid pod id/);
  }
  for (const bad of ['has space', 'a/b', '-lead', 'x'.repeat(65), 'nl\n']) {
    await assert.rejects(createPodNamespaces({ podId: 'ok', hostname: bad, runtimeRoot: '/nonexistent/never' }), /invalid hostname/);
  }
  assert.equal(fs.existsSync('/nonexistent/never'), false);
});

test('teardown of a pod that has nothing is a no-op; listing finds pod dirs', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-podns-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  await removePodNamespaces('nothing', root);
  await removePodNamespaces('nothing', path.join(root, 'missing-root'));
  assert.equal(loadPodNamespaces('nothing', root), null);
  fs.mkdirSync(path.join(root, 'p2', 'ns'), { recursive: true });
  fs.mkdirSync(path.join(root, 'p1', 'ns'), { recursive: true });
  fs.mkdirSync(path.join(root, 'p3'), { recursive: true });
  assert.deepEqual(listPodNamespaceIds(root), ['p1', 'p2']);
  // a half-made pod dir (no state, plain files): removed
  fs.writeFileSync(path.join(root, 'p1', 'ns', 'net'), '');
  await removePodNamespaces('p1', root);
  assert.equal(fs.existsSync(path.join(root, 'p1')), false);
  assert.deepEqual(listPodNamespaceIds(root), ['p2']);
});

test('the pause plan: exec mode, a new PID namespace only, joins by path, no capabilities', () => {
  const plan = pausePlan('/opt/berth-pause', [{ flag: CLONE_NEWNET, path: '/run/berth/pods/p/ns/net' }]);
  assert.equal(plan.mode, 'exec');
  assert.equal(plan.foreground, false);
  assert.equal(plan.cloneFlags, CLONE_NEWPID);
  assert.deepEqual(plan.joinNamespaces, [{ flag: CLONE_NEWNET, path: '/run/berth/pods/p/ns/net' }]);
  assert.equal(plan.rootfs, '');
  assert.deepEqual(plan.process.args, ['/opt/berth-pause']);
  assert.equal(plan.process.noNewPrivileges, true);
  assert.deepEqual(Object.values(plan.process.capabilities), [0n, 0n, 0n, 0n, 0n]);
  assert.ok(encodePlan(plan).length > 0);
});

test('a create that never finished is reported as not ready, and removed', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-podns-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'half', 'ns');
  fs.mkdirSync(dir, { recursive: true });
  const state = { version: 1, phase: 'creating', podId: 'half', dir, net: path.join(dir, 'net'), ipc: null, uts: null, hostname: '', pause: null };
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  fs.writeFileSync(path.join(dir, 'net'), '');
  const loaded = loadPodNamespaces('half', root);
  assert.ok(loaded);
  assert.equal(loaded.ready, false);
  assert.equal(loaded.net, path.join(dir, 'net'));
  await assert.rejects(createPodNamespaces({ podId: 'half', runtimeRoot: root, privateMount: false }), /already has namespaces/);
  await removePodNamespaces('half', root);
  assert.deepEqual(fs.readdirSync(root), []);
});
