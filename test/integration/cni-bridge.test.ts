/**
 * CNI with Debian's standard plugins (bridge, host-local, portmap, loopback) on the real kernel: a
 * test-unique bridge and /24 in a test config, the pod reachable from the host and from another pod
 * over the bridge, a port mapping reached on the bridge gateway address and on 127.0.0.1 (portmap
 * with snat sets route_localnet on the bridge), then DEL and teardown that leave no veth, no
 * iptables rule, no address reservation, no namespace mount, and no bridge. Traffic stays on the
 * test's bridge and loopback.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkNetwork } from '../../src/pod/cni/attach';
import { defaultNetworkConfig } from '../../src/pod/cni/config';
import { CniManager } from '../../src/pod/cni/manager';
import { findPlugin } from '../../src/pod/cni/invoke';
import { readMountInfo } from '../../src/pod/mounts';
import { createPodNamespaces, releasePodRuntimeRoot, removePodNamespaces } from '../../src/pod/namespaces';

const BIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
const haveTools =
  process.getuid?.() === 0 &&
  ['bridge', 'host-local', 'portmap', 'loopback'].every((p) => findPlugin(p, BIN_DIRS) !== null) &&
  fs.existsSync('/usr/bin/busybox');
const skip = !haveTools && 'needs root, the CNI plugins in /usr/lib/cni and busybox';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

async function getWithRetry(url: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 20; i++) {
    try {
      return await get(url);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

function linkExists(name: string): boolean {
  return sh('ip', ['-o', 'link']).split('\n').some((l) => l.split(':')[1]?.trim().split('@')[0] === name);
}

test('a pod on a bridge network: addresses, reachability, port mapping, and a clean teardown', { skip }, async (t) => {
  const n = 100 + (process.pid % 150);
  const tag = `${process.pid}`;
  const bridge = `bt${tag}`.slice(0, 15);
  const netName = `berthtest${tag}`;
  const subnet = `10.89.${n}.0/24`;
  const gateway = `10.89.${n}.1`;
  const hostPort = 20000 + (process.pid % 10000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cni-it-'));
  const root = path.join(tmp, 'run');
  const confDir = path.join(tmp, 'net.d');
  const cacheDir = path.join(tmp, 'results');
  const ipamDir = path.join(tmp, 'ipam');
  fs.mkdirSync(confDir);
  fs.writeFileSync(path.join(confDir, '10-test.conflist'), JSON.stringify(defaultNetworkConfig({ name: netName, bridge, subnet, dataDir: ipamDir })));
  const mgr = new CniManager({ confDir, binDirs: BIN_DIRS, cacheDir });
  const pods = [`cnia${tag}`, `cnib${tag}`];
  const servers: ChildProcess[] = [];

  t.after(async () => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    for (const p of pods) {
      await mgr.tearDownPod({ podId: p }).catch(() => undefined);
      await removePodNamespaces(p, root).catch(() => undefined);
    }
    await releasePodRuntimeRoot(root).catch(() => undefined);
    if (linkExists(bridge)) sh('ip', ['link', 'del', bridge]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  assert.deepEqual(await mgr.status(), { ready: true, reason: '', message: '' });

  // pod A with a port mapping, pod B without
  const nsA = await createPodNamespaces({ podId: pods[0], runtimeRoot: root, hostname: 'pod-a' });
  const nsB = await createPodNamespaces({ podId: pods[1], runtimeRoot: root, hostname: 'pod-b' });
  assert.ok(nsA.net && nsB.net);
  const netA = await mgr.setUpPod({
    podId: pods[0],
    netns: nsA.net,
    podName: 'a',
    podNamespace: 'test',
    podUid: `uid-a-${tag}`,
    portMappings: [{ hostPort, containerPort: 8080, protocol: 'tcp' }],
  });
  const netB = await mgr.setUpPod({ podId: pods[1], netns: nsB.net, podName: 'b', podNamespace: 'test', podUid: `uid-b-${tag}` });
  const ipA = netA.ips.ipv4;
  const ipB = netB.ips.ipv4;
  assert.ok(ipA && ipB);
  assert.ok(ipA.startsWith(`10.89.${n}.`) && ipB.startsWith(`10.89.${n}.`) && ipA !== ipB && ipA !== gateway);
  assert.equal(netA.network, netName);

  // inside the pod: eth0 holds the address, lo is up, the default route goes to the bridge
  const addr = sh('nsenter', [`--net=${nsA.net}`, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  assert.match(addr, new RegExp(`inet ${ipA.replace(/\./g, '\\.')}/24`));
  assert.match(sh('nsenter', [`--net=${nsA.net}`, 'ip', '-o', 'link', 'show', 'lo']), /[<,]UP[,>]/);
  assert.match(sh('nsenter', [`--net=${nsA.net}`, 'ip', '-4', 'route', 'show', 'default']), new RegExp(`via ${gateway.replace(/\./g, '\\.')}`));
  // on the host: the bridge has the gateway address, each pod a veth on it
  assert.match(sh('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge]), new RegExp(`inet ${gateway.replace(/\./g, '\\.')}/24`));
  assert.equal(sh('ip', ['-o', 'link', 'show', 'master', bridge]).trim().split('\n').length, 2);

  // a listener inside pod A
  const www = path.join(tmp, 'www');
  fs.mkdirSync(www);
  const marker = `hello from pod a ${tag}`;
  fs.writeFileSync(path.join(www, 'index.html'), `${marker}\n`);
  const httpd = spawn('nsenter', [`--net=${nsA.net}`, 'busybox', 'httpd', '-f', '-p', '8080', '-h', www], { stdio: 'ignore' });
  servers.push(httpd);

  assert.equal(await getWithRetry(`http://${ipA}:8080/`), `200 ${marker}`, 'host -> pod over the bridge');
  assert.equal(await get(`http://${gateway}:${hostPort}/`), `200 ${marker}`, 'host port on the bridge gateway address');
  assert.equal(await get(`http://127.0.0.1:${hostPort}/`), `200 ${marker}`, 'host port on 127.0.0.1');
  // pod B -> pod A over the bridge (busybox nc inside B's network namespace)
  const viaB = sh('nsenter', [`--net=${nsB.net}`, 'busybox', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${ipA} 8080`]);
  assert.match(viaB, new RegExp(marker));

  // the port mapping's rules exist while the pod does
  const natWhile = sh('iptables-save', ['-t', 'nat']);
  assert.match(natWhile, new RegExp(`id: \\\\"${pods[0]}\\\\"`));

  // CHECK of the bridge part against the cached result (Debian's portmap 1.1.1 fails CHECK on IPv4-only
  // pods, containernetworking/plugins#819, so it is left out here)
  const cached = mgr.cache.get(netName, pods[0], 'eth0');
  assert.ok(cached?.result);
  const bridgeOnly = { ...cached.config, plugins: cached.config.plugins.filter((p) => p.type !== 'portmap') };
  await checkNetwork(bridgeOnly, cached.cniVersion, { containerId: pods[0], netns: nsA.net, ifName: 'eth0', args: cached.args, capabilityArgs: {} }, cached.result, {
    binDirs: BIN_DIRS,
  });

  // teardown
  httpd.kill('SIGKILL');
  for (const [i, p] of pods.entries()) {
    await mgr.tearDownPod({ podId: p, netns: i === 0 ? nsA.net : nsB.net });
    await removePodNamespaces(p, root);
  }
  assert.equal(sh('ip', ['-o', 'link', 'show', 'master', bridge]).trim(), '', 'a veth is left on the bridge');
  const rules = sh('iptables-save', []);
  for (const needle of [netName, pods[0], pods[1], `--dports ${hostPort}`, ipA, ipB]) {
    assert.equal(rules.includes(needle), false, `iptables still mentions ${needle}`);
  }
  assert.deepEqual(fs.readdirSync(cacheDir), []);
  const reserved = fs.existsSync(path.join(ipamDir, netName)) ? fs.readdirSync(path.join(ipamDir, netName)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  assert.deepEqual(reserved, [], 'host-local still holds addresses');
  assert.deepEqual(readMountInfo().filter((m) => m.mountPoint.startsWith(`${root}/`)), []);
  await assert.rejects(get(`http://127.0.0.1:${hostPort}/`));

  // the bridge is the test's to delete
  sh('ip', ['link', 'del', bridge]);
  assert.equal(linkExists(bridge), false);
});

test('without the loopback plugin, lo is brought up with ip; a pod without port mappings', { skip }, async (t) => {
  const n = 100 + (process.pid % 150);
  const tag = `${process.pid}`;
  const bridge = `bl${tag}`.slice(0, 15);
  const netName = `berthlo${tag}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cni-lo-'));
  const root = path.join(tmp, 'run');
  const bin = path.join(tmp, 'bin');
  const confDir = path.join(tmp, 'net.d');
  fs.mkdirSync(bin);
  fs.mkdirSync(confDir);
  for (const p of ['bridge', 'host-local', 'portmap']) fs.symlinkSync(findPlugin(p, BIN_DIRS) ?? '', path.join(bin, p));
  fs.writeFileSync(
    path.join(confDir, '10-lo.conflist'),
    JSON.stringify(defaultNetworkConfig({ name: netName, bridge, subnet: `10.89.${n}.0/24`, dataDir: path.join(tmp, 'ipam') })),
  );
  const mgr = new CniManager({ confDir, binDirs: [bin], cacheDir: path.join(tmp, 'results') });
  const pod = `cnilo${tag}`;
  t.after(async () => {
    await mgr.tearDownPod({ podId: pod }).catch(() => undefined);
    await removePodNamespaces(pod, root).catch(() => undefined);
    await releasePodRuntimeRoot(root).catch(() => undefined);
    if (linkExists(bridge)) sh('ip', ['link', 'del', bridge]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  assert.equal((await mgr.status()).ready, true);
  const ns = await createPodNamespaces({ podId: pod, runtimeRoot: root });
  assert.ok(ns.net);
  assert.doesNotMatch(sh('nsenter', [`--net=${ns.net}`, 'ip', '-o', 'link', 'show', 'lo']), /[<,]UP[,>]/);
  const net = await mgr.setUpPod({ podId: pod, netns: ns.net, podName: 'lo', podNamespace: 'test', podUid: `uid-lo-${tag}` });
  assert.ok(net.ips.ipv4);
  assert.match(sh('nsenter', [`--net=${ns.net}`, 'ip', '-o', 'link', 'show', 'lo']), /[<,]UP[,>]/);
  assert.match(sh('nsenter', [`--net=${ns.net}`, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'lo']), /inet 127\.0\.0\.1\/8/);
  await mgr.tearDownPod({ podId: pod, netns: ns.net });
  await removePodNamespaces(pod, root);
  assert.equal(sh('ip', ['-o', 'link', 'show', 'master', bridge]).trim(), '');
  assert.equal(sh('iptables-save', []).includes(pod), false);
  sh('ip', ['link', 'del', bridge]);
});
