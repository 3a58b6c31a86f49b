import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CniPluginError } from '../../src/pod/cni/errors';
import { pluginError } from '../../src/pod/cni/invoke';
import { CniManager, NETWORK_NOT_READY, networkStatus, type PodNetworkRequest } from '../../src/pod/cni/manager';
import { podIP } from '../../src/pod/cni/result';
import type { CniResult, JsonObject } from '../../src/pod/cni/types';
import { FakeCni } from './cni-fake';

function fake(t: { after(fn: () => void): void }, plugins: string[]): FakeCni {
  const f = new FakeCni(plugins);
  t.after(() => f.cleanup());
  return f;
}

function chainConf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'fakenet',
    plugins: [
      { type: 'fake-a', ipam: { type: 'fake-ipam', subnet: '10.99.0.0/24' }, custom: { deep: [1, 2] } },
      { type: 'fake-b', capabilities: { portMappings: true, bandwidth: true } },
    ],
    ...extra,
  };
}

function manager(f: FakeCni, opts: { loopback?: boolean } = {}): CniManager {
  return new CniManager({ confDir: f.confDir, binDirs: [f.binDir], cacheDir: f.cacheDir, loopback: opts.loopback ?? false });
}

function request(f: FakeCni, extra: Partial<PodNetworkRequest> = {}): PodNetworkRequest {
  const netns = path.join(f.root, 'netns');
  fs.writeFileSync(netns, '');
  return {
    podId: 'pod1',
    netns,
    podName: 'web',
    podNamespace: 'default',
    podUid: 'uid-1',
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: 'TCP' as 'tcp' },
      { hostPort: 0, containerPort: 81, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ],
    ...extra,
  };
}

const A_RESULT: JsonObject = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'fb0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/x' }],
  ips: [{ address: '10.99.0.7/24', gateway: '10.99.0.1', interface: 2 }],
  routes: [{ dst: '0.0.0.0/0' }],
};
const B_RESULT: JsonObject = { ...A_RESULT, dns: { nameservers: ['10.99.0.1'] }, by: 'fake-b' };

test('ADD runs the chain in order with kubelet CNI_ARGS, prevResult chaining and runtimeConfig per capability', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.writeConfig('10-fake.conflist', chainConf());
  f.setOutput('fake-a', 'ADD', A_RESULT);
  f.setOutput('fake-b', 'ADD', B_RESULT);
  const m = manager(f);
  const req = request(f, { bandwidth: { ingressRate: 100 } });
  const net = await m.setUpPod(req);

  const calls = f.attachCalls();
  assert.deepEqual(calls.map((c) => `${c.plugin} ${c.command}`), ['fake-a ADD', 'fake-b ADD']);
  for (const c of calls) {
    assert.equal(c.env.CNI_COMMAND, 'ADD');
    assert.equal(c.env.CNI_CONTAINERID, 'pod1');
    assert.equal(c.env.CNI_NETNS, req.netns);
    assert.equal(c.env.CNI_IFNAME, 'eth0');
    assert.equal(c.env.CNI_PATH, f.binDir);
    assert.equal(c.env.CNI_ARGS, 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=pod1;K8S_POD_UID=uid-1');
  }
  const [a, b] = calls;
  assert.ok(a.stdin && b.stdin);
  assert.deepEqual(a.stdin, {
    cniVersion: '1.0.0',
    name: 'fakenet',
    type: 'fake-a',
    ipam: { type: 'fake-ipam', subnet: '10.99.0.0/24' },
    custom: { deep: [1, 2] },
  });
  assert.deepEqual(b.stdin.prevResult, A_RESULT);
  assert.deepEqual(b.stdin.runtimeConfig, {
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ],
    bandwidth: { ingressRate: 100 },
  });
  assert.equal('capabilities' in b.stdin, false);

  assert.deepEqual(net.result, B_RESULT);
  assert.equal(net.network, 'fakenet');
  assert.equal(net.source, path.join(f.confDir, '10-fake.conflist'));
  assert.equal(net.cniVersion, '1.0.0');
  assert.deepEqual(net.ips, { ipv4: '10.99.0.7', ipv6: null, all: ['10.99.0.7'] });

  // the cache holds what DEL needs, and the result
  const cached = JSON.parse(fs.readFileSync(path.join(f.cacheDir, 'fakenet-pod1-eth0'), 'utf8')) as JsonObject;
  assert.equal(cached.kind, 'berth-cni-cache/v1');
  assert.deepEqual(cached.result, B_RESULT);
  assert.equal(cached.netns, req.netns);
  assert.equal((cached.config as JsonObject).name, 'fakenet');
  assert.deepEqual(m.podNetwork('pod1')?.ips.ipv4, '10.99.0.7');
  assert.deepEqual(m.cachedPodIds(), ['pod1']);
  assert.deepEqual(fs.readdirSync(f.cacheDir), ['fakenet-pod1-eth0']); // no temp files left
});

test('DEL runs in reverse order with the cached result, even after the config dir changed', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam', 'fake-c']);
  f.writeConfig('10-fake.conflist', chainConf());
  f.setOutput('fake-b', 'ADD', B_RESULT);
  const m = manager(f);
  const req = request(f);
  await m.setUpPod(req);
  // an administrator swaps the config: DEL still uses what the pod was added with
  f.writeConfig('05-other.conflist', { cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'fake-c' }] });
  f.clearLog();
  await m.tearDownPod({ podId: 'pod1', netns: req.netns });
  const calls = f.attachCalls();
  assert.deepEqual(calls.map((c) => `${c.plugin} ${c.command}`), ['fake-b DEL', 'fake-a DEL']);
  for (const c of calls) {
    assert.deepEqual(c.stdin?.prevResult, B_RESULT);
    assert.equal(c.env.CNI_NETNS, req.netns);
    assert.equal(c.env.CNI_ARGS, 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=pod1;K8S_POD_UID=uid-1');
  }
  // the port mappings the pod was added with reach portmap's DEL too
  assert.deepEqual((calls[0].stdin?.runtimeConfig as JsonObject).portMappings, [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
  ]);
  assert.equal(fs.existsSync(path.join(f.cacheDir, 'fakenet-pod1-eth0')), false);
  assert.equal(m.podNetwork('pod1'), null);
  assert.deepEqual(m.cachedPodIds(), []);

  // again: no cache entry, so DEL with the current network, no prevResult; the netns is gone
  fs.rmSync(req.netns ?? '');
  f.clearLog();
  await m.tearDownPod({ podId: 'pod1', netns: req.netns });
  const again = f.attachCalls();
  assert.deepEqual(again.map((c) => `${c.plugin} ${c.command}`), ['fake-c DEL']);
  assert.equal(again[0].stdin?.prevResult, undefined);
  assert.equal(again[0].env.CNI_NETNS, '');
});

test('DEL before spec 0.4.0 gets no prevResult; CHECK is skipped there', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.writeConfig('10-fake.conflist', chainConf({ cniVersion: '0.3.1' }));
  const m = manager(f);
  await m.setUpPod(request(f));
  f.clearLog();
  await m.checkPod({ podId: 'pod1' });
  assert.deepEqual(f.attachCalls(), []);
  await m.tearDownPod({ podId: 'pod1' });
  const calls = f.attachCalls();
  assert.deepEqual(calls.map((c) => `${c.plugin} ${c.command}`), ['fake-b DEL', 'fake-a DEL']);
  for (const c of calls) {
    assert.equal(c.stdin?.cniVersion, '0.3.1');
    assert.equal(c.stdin?.prevResult, undefined);
  }
});

test('CHECK runs in order with the cached result; disableCheck turns it off; unknown pods are NOT_FOUND', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.writeConfig('10-fake.conflist', chainConf());
  f.setOutput('fake-b', 'ADD', B_RESULT);
  const m = manager(f);
  await assert.rejects(m.checkPod({ podId: 'pod1' }), (err: unknown) => (err as { code?: string }).code === 'NOT_FOUND');
  const req = request(f);
  await m.setUpPod(req);
  f.clearLog();
  await m.checkPod({ podId: 'pod1', netns: req.netns });
  const calls = f.attachCalls();
  assert.deepEqual(calls.map((c) => `${c.plugin} ${c.command}`), ['fake-a CHECK', 'fake-b CHECK']);
  for (const c of calls) {
    assert.deepEqual(c.stdin?.prevResult, B_RESULT);
    assert.equal(c.env.CNI_IFNAME, 'eth0');
  }
  f.setOutput('fake-b', 'CHECK', { code: 999, msg: 'chain missing' }, 1);
  await assert.rejects(m.checkPod({ podId: 'pod1' }), (err: unknown) => err instanceof CniPluginError && err.command === 'CHECK' && err.msg === 'chain missing');
  await m.tearDownPod({ podId: 'pod1' });

  const g = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  g.writeConfig('10-fake.conflist', chainConf({ disableCheck: true }));
  const m2 = manager(g);
  await m2.setUpPod(request(g));
  g.clearLog();
  await m2.checkPod({ podId: 'pod1' });
  assert.deepEqual(g.attachCalls(), []);
});

test('a plugin error surfaces code, msg and details; a DEL follows the failed ADD', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.writeConfig('10-fake.conflist', chainConf());
  f.setOutput('fake-b', 'ADD', { cniVersion: '1.0.0', code: 7, msg: 'Invalid network config', details: 'subnet 10.99.0.0/31 too small' }, 1, 'some log line');
  const m = manager(f);
  await assert.rejects(m.setUpPod(request(f)), (err: unknown) => {
    assert.ok(err instanceof CniPluginError);
    assert.equal(err.plugin, 'fake-b');
    assert.equal(err.command, 'ADD');
    assert.equal(err.cniCode, 7);
    assert.equal(err.msg, 'Invalid network config');
    assert.equal(err.details, 'subnet 10.99.0.0/31 too small');
    assert.equal(err.stderr, 'some log line');
    assert.match(err.message, /fake-b ADD failed: code 7: Invalid network config: subnet 10\.99\.0\.0\/31 too small/);
    return true;
  });
  assert.deepEqual(f.attachCalls().map((c) => `${c.plugin} ${c.command}`), ['fake-a ADD', 'fake-b ADD', 'fake-b DEL', 'fake-a DEL']);
  assert.deepEqual(fs.readdirSync(f.cacheDir), []);
});

test('when the DEL after a failed ADD fails too, the cache entry stays for a later teardown', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.writeConfig('10-fake.conflist', chainConf());
  f.setOutput('fake-b', 'ADD', 'plain text failure', 3);
  f.setOutput('fake-b', 'DEL', { code: 11, msg: 'Try again later' }, 1);
  const m = manager(f);
  await assert.rejects(m.setUpPod(request(f)), (err: unknown) => err instanceof CniPluginError && err.cniCode === 0 && err.msg === 'plain text failure');
  const cached = JSON.parse(fs.readFileSync(path.join(f.cacheDir, 'fakenet-pod1-eth0'), 'utf8')) as JsonObject;
  assert.equal(cached.result, null);
  await assert.rejects(m.tearDownPod({ podId: 'pod1' }), (err: unknown) => err instanceof CniPluginError && err.cniCode === 11 && err.code === 'TIMEOUT');
  fs.rmSync(path.join(f.root, 'ctl', 'fake-b.DEL.out'));
  fs.rmSync(path.join(f.root, 'ctl', 'fake-b.DEL.rc'));
  f.clearLog();
  await m.tearDownPod({ podId: 'pod1' });
  assert.deepEqual(f.attachCalls().map((c) => `${c.plugin} ${c.command}`), ['fake-b DEL', 'fake-a DEL']);
  assert.deepEqual(fs.readdirSync(f.cacheDir), []);
});

test('an ADD that prints no JSON result is an error (code 6)', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.writeConfig('10-fake.conflist', chainConf());
  f.setOutput('fake-a', 'ADD', 'not json');
  await assert.rejects(manager(f).setUpPod(request(f)), (err: unknown) => err instanceof CniPluginError && err.cniCode === 6 && err.plugin === 'fake-a');
});

test('loopback: its own network on "lo" before the pod network, and DEL after', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam', 'loopback']);
  f.writeConfig('10-fake.conflist', chainConf());
  const m = manager(f, { loopback: true });
  const req = request(f);
  await m.setUpPod(req);
  const add = f.attachCalls();
  assert.deepEqual(add.map((c) => `${c.plugin} ${c.command} ${c.env.CNI_IFNAME}`), ['loopback ADD lo', 'fake-a ADD eth0', 'fake-b ADD eth0']);
  assert.equal(add[0].stdin?.name, 'cni-loopback');
  assert.equal(add[0].stdin?.runtimeConfig, undefined);
  f.clearLog();
  await m.tearDownPod({ podId: 'pod1', netns: req.netns });
  assert.deepEqual(f.attachCalls().map((c) => `${c.plugin} ${c.command} ${c.env.CNI_IFNAME}`), ['fake-b DEL eth0', 'fake-a DEL eth0', 'loopback DEL lo']);
});

test('the spec version: the highest that the config offers and every plugin speaks', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.setOutput('fake-b', 'VERSION', { cniVersion: '1.0.0', supportedVersions: ['0.3.1', '0.4.0'] });
  f.writeConfig('10-fake.conflist', chainConf({ cniVersions: ['0.4.0', '1.0.0'] }));
  const m = manager(f);
  const net = await m.setUpPod(request(f));
  assert.equal(net.cniVersion, '0.4.0');
  for (const c of f.attachCalls()) assert.equal(c.stdin?.cniVersion, '0.4.0');
  await m.tearDownPod({ podId: 'pod1' });
  // a config offering only 1.0.0 cannot be used with that plugin
  f.writeConfig('10-fake.conflist', chainConf());
  const st = await m.status();
  assert.equal(st.ready, false);
  assert.equal(st.reason, NETWORK_NOT_READY);
  assert.match(st.message, /no CNI version common/);
});

test('networkStatus: ready with usable plugins, NetworkPluginNotReady with a message otherwise', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  const opts = { confDir: f.confDir, binDirs: [f.binDir], cacheDir: f.cacheDir };
  // no config: the built-in default network needs bridge, host-local and portmap
  let st = await networkStatus(opts);
  assert.equal(st.ready, false);
  assert.equal(st.reason, 'NetworkPluginNotReady');
  assert.match(st.message, /bridge, host-local, portmap not found/);
  st = await networkStatus({ ...opts, defaultNetwork: null });
  assert.equal(st.ready, false);
  assert.match(st.message, /no network configuration/);

  f.writeConfig('10-fake.conflist', chainConf());
  st = await networkStatus(opts);
  assert.deepEqual(st, { ready: true, reason: '', message: '' });

  fs.rmSync(path.join(f.binDir, 'fake-ipam'));
  st = await networkStatus(opts);
  assert.equal(st.ready, false);
  assert.match(st.message, /fake-ipam not found/);
  f.addPlugin('fake-ipam');

  f.writeConfig('00-broken.conflist', '{"cniVersion": "1.0.0", "name": "x", "plugins": "no"}');
  st = await networkStatus(opts);
  assert.equal(st.ready, false);
  assert.match(st.message, /00-broken\.conflist plugins: must be a non-empty list/);
});

test('STATUS is asked of 1.1.0 plugins; a failing one makes the network not ready', async (t) => {
  const f = fake(t, ['fake-s']);
  f.setOutput('fake-s', 'VERSION', { cniVersion: '1.1.0', supportedVersions: ['1.0.0', '1.1.0'] });
  f.writeConfig('10-s.conflist', { cniVersion: '1.1.0', name: 'snet', plugins: [{ type: 'fake-s', capabilities: { portMappings: true } }] });
  const m = manager(f);
  let st = await m.status();
  assert.equal(st.ready, true);
  const status = f.calls().filter((c) => c.command === 'STATUS');
  assert.equal(status.length, 1);
  assert.deepEqual(status[0].stdin, { cniVersion: '1.1.0', name: 'snet', type: 'fake-s' });
  assert.equal(status[0].env.CNI_CONTAINERID, undefined);
  f.setOutput('fake-s', 'STATUS', { cniVersion: '1.1.0', code: 50, msg: 'no addresses left' }, 1);
  st = await m.status();
  assert.equal(st.ready, false);
  assert.match(st.message, /fake-s STATUS failed: code 50 \(The plugin is not available\): no addresses left/);
});

test('operations on one pod run one at a time', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.writeConfig('10-fake.conflist', chainConf());
  const m = manager(f);
  const req = request(f);
  await Promise.all([m.setUpPod(req), m.tearDownPod(req), m.setUpPod(req), m.tearDownPod(req)]);
  assert.deepEqual(
    f.attachCalls().map((c) => `${c.plugin} ${c.command}`),
    ['fake-a ADD', 'fake-b ADD', 'fake-b DEL', 'fake-a DEL', 'fake-a ADD', 'fake-b ADD', 'fake-b DEL', 'fake-a DEL'],
  );
});

test('bad requests are refused before any plugin runs', async (t) => {
  const f = fake(t, ['fake-a', 'fake-b', 'fake-ipam']);
  f.writeConfig('10-fake.conflist', chainConf());
  const m = manager(f);
  await assert.rejects(m.setUpPod(request(f, { podId: '../x' })), /invalid CNI container id/);
  await assert.rejects(m.setUpPod(request(f, { portMappings: [{ hostPort: 70000, containerPort: 1, protocol: 'tcp' }] })), /not a port number/);
  await assert.rejects(m.setUpPod(request(f, { portMappings: [{ hostPort: 1, containerPort: 1, protocol: 'icmp' as 'tcp' }] })), /not tcp, udp or sctp/);
  await assert.rejects(m.setUpPod(request(f, { podName: 'a;b' })), /may not contain/);
  await assert.rejects(m.setUpPod(request(f, { netns: '' })), /network namespace/);
  assert.deepEqual(f.attachCalls(), []);
});

test('plugin errors are read from stdout, then stderr, then plain text', () => {
  let e = pluginError('/usr/lib/cni/bridge', 'ADD', 1, '{"code":3,"msg":"Container unknown","details":"gone"}', '');
  assert.equal(e.plugin, 'bridge');
  assert.equal(e.cniCode, 3);
  assert.equal(e.details, 'gone');
  e = pluginError('/x/p', 'DEL', 1, 'junk', '{"code":4,"msg":"CNI_NETNS missing"}');
  assert.equal(e.cniCode, 4);
  assert.equal(e.msg, 'CNI_NETNS missing');
  e = pluginError('/x/p', 'DEL', 2, '', 'panic: oops\n');
  assert.equal(e.cniCode, 0);
  assert.equal(e.msg, 'panic: oops');
  e = pluginError('/x/p', 'ADD', 137, '', '');
  assert.equal(e.msg, 'exit status 137');
  e = pluginError('/x/p', 'ADD', 137, '', '', true);
  assert.match(e.message, /timed out/);
});

test('podIP: first IPv4 and IPv6 of the sandbox interfaces', () => {
  const r: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'br0' }, { name: 'eth0', sandbox: '/run/ns' }],
    ips: [
      { address: '10.1.0.1/24', interface: 0 },
      { address: 'fd00::5/64', interface: 1 },
      { address: '10.1.0.5/24', interface: 1 },
      { address: '10.1.0.6/24', interface: 1 },
    ],
  };
  assert.deepEqual(podIP(r), { ipv4: '10.1.0.5', ipv6: 'fd00::5', all: ['fd00::5', '10.1.0.5', '10.1.0.6'] });
  // 0.3.x style without interface indices: every IP counts
  assert.deepEqual(podIP({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.2.0.9/16' }] }), { ipv4: '10.2.0.9', ipv6: null, all: ['10.2.0.9'] });
  assert.deepEqual(podIP(null), { ipv4: null, ipv6: null, all: [] });
  assert.deepEqual(podIP({ cniVersion: '1.0.0' }), { ipv4: null, ipv6: null, all: [] });
});
