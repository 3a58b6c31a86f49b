import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PodStore, type PodRecord } from '../../src/daemon/pod-store';
import { filterPods, matchesIdPrefix, matchesLabels } from '../../src/daemon/filters';
import { hostsText, resolvConfText, validateMetadata } from '../../src/daemon/pods';
import { checkSysctls, sysctlNamespace, sysctlPath } from '../../src/daemon/sysctl';
import { BerthError } from '../../src/runtime/errors';

function rec(id: string, labels: Record<string, string> = {}): PodRecord {
  return {
    version: 1,
    id,
    phase: 'ready',
    metadata: { name: 'n', uid: 'u', namespace: 'ns', attempt: 0 },
    createdAt: '1',
    labels,
    annotations: {},
    runtimeHandler: '',
    hostname: 'h',
    logDirectory: '',
    namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' },
    dns: null,
    portMappings: [],
    sysctls: {},
    cgroupParent: '',
    netns: null,
    ipcns: null,
    utsns: null,
    pause: null,
    resolvConf: '',
    hostsFile: '',
    hostnameFile: '',
    ips: [],
    network: '',
  };
}

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

test('PodStore: save, load, remove; unreadable records are reported, not fatal', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berthd-store-'));
  try {
    const s = new PodStore(dir);
    await s.save(rec(A, { app: 'x' }));
    await s.save({ ...rec(B), phase: 'stopped' });
    assert.equal(fs.statSync(path.join(dir, 'pods', A, 'meta.json')).mode & 0o777, 0o600);
    assert.deepEqual(
      s.loadAll().map((r) => [r.id, r.phase, r.labels]),
      [
        [A, 'ready', { app: 'x' }],
        [B, 'stopped', {}],
      ],
    );
    // no temp files are left next to the record
    assert.deepEqual(fs.readdirSync(path.join(dir, 'pods', A)), ['meta.json']);
    fs.writeFileSync(path.join(dir, 'pods', B, 'meta.json'), '{"version":1,"id":"other"}');
    fs.mkdirSync(path.join(dir, 'pods', 'c'.repeat(64)));
    fs.mkdirSync(path.join(dir, 'pods', 'not-a-pod'));
    const bad: string[] = [];
    assert.deepEqual(
      s.loadAll((id) => bad.push(id)).map((r) => r.id),
      [A],
    );
    assert.deepEqual(bad.sort(), [B, 'c'.repeat(64)]);
    assert.deepEqual(s.ids().sort(), [A, B, 'c'.repeat(64)]);
    await s.remove(A);
    await s.remove(A);
    assert.equal(fs.existsSync(path.join(dir, 'pods', A)), false);
    assert.throws(() => s.podDir('../etc'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('label selectors and id prefixes', () => {
  assert.equal(matchesLabels({ a: '1', b: '2' }, { a: '1' }), true);
  assert.equal(matchesLabels({ a: '1', b: '2' }, { a: '1', b: '2' }), true);
  assert.equal(matchesLabels({ a: '1' }, { a: '2' }), false);
  assert.equal(matchesLabels({ a: '1' }, { c: '' }), false);
  assert.equal(matchesLabels({ c: '' }, { c: '' }), true);
  assert.equal(matchesLabels({}, {}), true);
  assert.equal(matchesLabels({}, null), true);
  assert.equal(matchesLabels({ constructor: 'x' }, { toString: 'x' }), false);
  assert.equal(matchesIdPrefix(A, ''), true);
  assert.equal(matchesIdPrefix(A, 'aaa'), true);
  assert.equal(matchesIdPrefix(A, 'ab'), false);
});

test('filterPods: id, state and labels combine', () => {
  const pods = [rec(A, { app: 'x', tier: 'web' }), rec(B, { app: 'y' })];
  const state = (p: PodRecord): 'R' | 'N' => (p.id === A ? 'R' : 'N');
  const ids = (f: Parameters<typeof filterPods<'R' | 'N', PodRecord>>[1]): string[] => filterPods(pods, f, state).map((p) => p.id[0]!);
  assert.deepEqual(ids(undefined), ['a', 'b']);
  assert.deepEqual(ids({ id: 'b' }), ['b']);
  assert.deepEqual(ids({ state: 'N' }), ['b']);
  assert.deepEqual(ids({ state: 'R', labelSelector: { app: 'x' } }), ['a']);
  assert.deepEqual(ids({ state: 'R', labelSelector: { app: 'y' } }), []);
  assert.deepEqual(ids({ labelSelector: { tier: 'web' } }), ['a']);
  assert.deepEqual(ids({ id: '' , labelSelector: {} }), ['a', 'b']);
});

test('metadata validation names the missing field', () => {
  const fields = (m: Parameters<typeof validateMetadata>[0]): string => {
    try {
      validateMetadata(m);
    } catch (err) {
      assert.ok(err instanceof BerthError && err.code === 'INVALID_ARGUMENT');
      return err.message;
    }
    return 'ok';
  };
  assert.match(fields(null), /config\.metadata is required/);
  assert.match(fields({ name: '', uid: 'u', namespace: 'n', attempt: 0 }), /config\.metadata\.name/);
  assert.match(fields({ name: 'a', uid: '', namespace: 'n', attempt: 0 }), /config\.metadata\.uid/);
  assert.match(fields({ name: 'a', uid: 'u', namespace: '', attempt: 0 }), /config\.metadata\.namespace/);
  assert.equal(fields({ name: 'a', uid: 'u', namespace: 'n', attempt: 3 }), 'ok');
});

test('resolv.conf and hosts text', () => {
  assert.equal(resolvConfText({ servers: ['10.0.0.10', '8.8.8.8'], searches: ['a.svc', 'svc'], options: ['ndots:5'] }), 'search a.svc svc\nnameserver 10.0.0.10\nnameserver 8.8.8.8\noptions ndots:5\n');
  assert.equal(resolvConfText({ servers: ['1.1.1.1'], searches: [], options: [] }), 'nameserver 1.1.1.1\n');
  const h = hostsText('web-0', ['10.1.2.3']);
  assert.match(h, /^127\.0\.0\.1\tlocalhost\n/);
  assert.match(h, /\n10\.1\.2\.3\tweb-0\n$/);
  assert.doesNotMatch(hostsText('', ['10.1.2.3']), /10\.1\.2\.3/);
});

test('sysctls: namespaced ones only, in the namespace the pod owns', () => {
  assert.equal(sysctlNamespace('net.ipv4.ip_forward'), 'net');
  assert.equal(sysctlNamespace('net/ipv4/conf/eth0.100/forwarding'), 'net');
  assert.equal(sysctlNamespace('kernel.shm_rmid_forced'), 'ipc');
  assert.equal(sysctlNamespace('fs.mqueue.msg_max'), 'ipc');
  assert.equal(sysctlNamespace('kernel.domainname'), 'uts');
  assert.equal(sysctlNamespace('kernel.panic'), null);
  assert.equal(sysctlNamespace('vm.swappiness'), null);
  assert.equal(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward');
  assert.equal(sysctlPath('net/ipv4/conf/eth0.100/forwarding'), '/proc/sys/net/ipv4/conf/eth0.100/forwarding');
  assert.throws(() => sysctlPath('net/../../etc'), BerthError);
  assert.throws(() => sysctlPath('net..x'), BerthError);
  const ok = { hostNetwork: false, hostIpc: false };
  checkSysctls({ 'net.ipv4.ping_group_range': '0 0', 'kernel.shmmax': '100' }, ok);
  assert.throws(() => checkSysctls({ 'kernel.panic': '1' }, ok), /config\.linux\.sysctls\["kernel\.panic"\]: not a namespaced sysctl/);
  assert.throws(() => checkSysctls({ 'net.ipv4.ip_forward': '1' }, { hostNetwork: true, hostIpc: false }), /host's network namespace/);
  assert.throws(() => checkSysctls({ 'kernel.msgmax': '1' }, { hostNetwork: false, hostIpc: true }), /host's IPC namespace/);
  assert.throws(() => checkSysctls({ 'net.ipv4.ip_forward': '1\n' }, ok), /newline/);
});
