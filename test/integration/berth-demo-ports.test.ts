/**
 * Port publishing as `berth run -p` does it, reached from the host itself: a berthd pod with CNI port
 * mappings (bridge + portmap with snat, the built-in default network's plugins on a test bridge), a
 * busybox httpd in a container and a UDP listener in the pod's network namespace, then from the host: tcp on 127.0.0.1 and on the
 * bridge gateway for an all-addresses mapping, tcp on 127.0.0.1 only for a mapping bound to 127.0.0.1
 * (not on the gateway address), and udp on 127.0.0.1. After the pod goes, the ports answer no more
 * and no iptables rule names the pod. Then the same through the `berth` CLI: -p CONTAINERPORT gets a
 * host port (berth port, berth ps) reached on 127.0.0.1, and -p HOSTPORT:PORT/udp.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { unary } from '../../src/cri/client';
import type * as cri from '../../src/cri/generated';
import { berthdSkip, setUpBerthd } from '../helpers/berthd';
import { destroyEnv, importDemoImage, makeEnv, toolsSkip } from '../helpers/berth-demo';

const skip = berthdSkip();

function get(url: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

async function getWithRetry(url: string, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await get(url);
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A free port on every host address (tcp and udp), from the kernel. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '0.0.0.0', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '0.0.0.0', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}

function sendUdp(host: string, port: number, msg: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const u = dgram.createSocket('udp4');
    u.send(msg, port, host, (err) => {
      u.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

test('published ports reach a pod from the host: 127.0.0.1, a host-IP-bound port, and udp', { skip, timeout: 180_000 }, async (t) => {
  const env = await setUpBerthd(t, 'pp', ['sh', 'httpd', 'mkdir', 'echo', 'cat', 'sleep']);
  const running = await env.start();
  const { runtime: rt, image: img } = running.clients;
  await unary((cb) => img.PullImage({ image: { image: env.imageName } }, cb));

  const anyPort = await freePort();
  const loPort = await freePort();
  const udpPort = await freePort();
  const marker = `hello from a published port ${process.pid}`;
  const podCfg: cri.PodSandboxConfig = {
    metadata: { name: 'ports', uid: 'uid-ports', namespace: 'berth-demo-test', attempt: 0 },
    hostname: 'ports',
    log_directory: env.logDir,
    linux: { cgroup_parent: env.cgroupParent },
    port_mappings: [
      { protocol: 'TCP', container_port: 80, host_port: anyPort },
      { protocol: 'TCP', container_port: 80, host_port: loPort, host_ip: '127.0.0.1' },
      { protocol: 'UDP', container_port: 9000, host_port: udpPort },
    ],
  };
  const pod = (await unary<cri.RunPodSandboxResponse__Output>((cb) => rt.RunPodSandbox({ config: podCfg }, cb))).pod_sandbox_id;
  const podStatus = await unary<cri.PodSandboxStatusResponse__Output>((cb) => rt.PodSandboxStatus({ pod_sandbox_id: pod }, cb));
  const podIp = podStatus.status!.network!.ip;
  assert.match(podIp, /^10\.89\.\d+\.\d+$/);
  const gateway = podIp.replace(/\.\d+$/, '.1');

  const script = [
    'mkdir -p /www',
    `echo "${marker}" > /www/index.html`,
    'exec httpd -f -p 80 -h /www',
  ].join('; ');
  const cid = (
    await unary<cri.CreateContainerResponse__Output>((cb) =>
      rt.CreateContainer(
        {
          pod_sandbox_id: pod,
          config: {
            metadata: { name: 'web' },
            image: { image: env.imageName },
            command: ['sh', '-c', script],
            log_path: 'web/0.log',
          },
          sandbox_config: podCfg,
        },
        cb,
      ),
    )
  ).container_id;
  await unary((cb) => rt.StartContainer({ container_id: cid }, cb));

  // tcp, mapping on every host address: 127.0.0.1 (portmap's snat + route_localnet) and the gateway
  assert.equal(await getWithRetry(`http://127.0.0.1:${anyPort}/`), `200 ${marker}`, 'all-address mapping on 127.0.0.1');
  assert.equal(await get(`http://${gateway}:${anyPort}/`), `200 ${marker}`, 'all-address mapping on the bridge gateway');
  // tcp, mapping bound to 127.0.0.1: reached there, not on another host address
  assert.equal(await get(`http://127.0.0.1:${loPort}/`), `200 ${marker}`, '127.0.0.1-bound mapping on 127.0.0.1');
  await assert.rejects(get(`http://${gateway}:${loPort}/`, 1500), '127.0.0.1-bound mapping must not answer on the gateway address');

  // udp on 127.0.0.1 (busybox-static's nc has no udp mode: a node listener in the pod's network
  // namespace writes what it receives to a file)
  const udpOut = path.join(env.shared, 'udp.out');
  const netns = path.join(env.runRoot, 'pods', pod, 'ns', 'net');
  assert.ok(fs.existsSync(netns), `no pod netns at ${netns}`);
  const listener = spawn(
    'nsenter',
    [`--net=${netns}`, process.execPath, '-e', `const d=require('dgram').createSocket('udp4');d.on('message',(m)=>require('fs').appendFileSync(${JSON.stringify(udpOut)},m));d.bind(9000,'0.0.0.0')`],
    { stdio: 'ignore' },
  );
  t.after(() => {
    if (listener.exitCode === null && listener.signalCode === null) listener.kill('SIGKILL');
  });
  const udpMsg = `udp ${process.pid}`;
  let got = '';
  for (let i = 0; i < 50 && !got.includes(udpMsg); i++) {
    await sendUdp('127.0.0.1', udpPort, `${udpMsg}\n`);
    await new Promise((r) => setTimeout(r, 200));
    got = fs.existsSync(udpOut) ? fs.readFileSync(udpOut, 'utf8') : '';
  }
  listener.kill('SIGKILL');
  assert.match(got, new RegExp(udpMsg), 'udp on 127.0.0.1 reaches the pod');

  // the pod goes: rules gone, ports no longer answer
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: pod }, cb));
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: pod }, cb));
  const rules = execFileSync('iptables-save', [], { encoding: 'utf8' });
  assert.equal(rules.includes(pod), false, 'iptables still names the pod');
  for (const p of [anyPort, loPort]) assert.equal(rules.includes(`--dports ${p}`), false, `iptables still holds port ${p}`);
  await assert.rejects(get(`http://127.0.0.1:${anyPort}/`, 1500));
});

test('berth run -p: a host port picked for -p 80, reached on 127.0.0.1; -p HOST:PORT/udp', { skip: toolsSkip(), timeout: 180_000 }, async (t) => {
  const env = makeEnv('p');
  const children: ReturnType<typeof spawn>[] = [];
  t.after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await destroyEnv(env);
  });
  const image = 'berth-test/ports:1';
  const page = `published ${process.pid}`;
  await importDemoImage(env, image, page);

  // -p 80: berth picks the host port (on every host address), berth port and berth ps show it
  let r = await env.berth(['run', '-d', '--name', 'anyport', '-p', '80', image, 'httpd', '-f', '-p', '80', '-h', '/www']);
  assert.equal(r.status, 0, r.stderr);
  r = await env.berth(['port', 'anyport', '80/tcp']);
  assert.equal(r.status, 0, r.stderr);
  const m = /^0\.0\.0\.0:(\d+)$/m.exec(r.stdout);
  assert.ok(m, `berth port printed ${JSON.stringify(r.stdout)}`);
  const hostPort = Number(m[1]);
  assert.ok(hostPort > 0 && hostPort < 65536);
  assert.match((await env.berth(['ps'])).stdout, new RegExp(`0\\.0\\.0\\.0:${hostPort}->80/tcp\\s+anyport`));
  assert.equal(await getWithRetry(`http://127.0.0.1:${hostPort}/`), `200 ${page}`);

  // udp: a listener in the container's network namespace (busybox-static has no udp server)
  const udpPort = await freePort();
  r = await env.berth(['run', '-d', '--name', 'udp', '-p', `127.0.0.1:${udpPort}:9000/udp`, image, 'sleep', '300']);
  assert.equal(r.status, 0, r.stderr);
  assert.match((await env.berth(['port', 'udp'])).stdout, new RegExp(`9000/udp -> 127\\.0\\.0\\.1:${udpPort}`));
  const pid = Number((await env.berth(['inspect', '-f', '{{.State.Pid}}', 'udp'])).stdout.trim());
  assert.ok(pid > 0);
  const udpOut = path.join(env.work, 'udp.out');
  const listener = spawn(
    'nsenter',
    [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', `const d=require('dgram').createSocket('udp4');d.on('message',(m)=>require('fs').appendFileSync(${JSON.stringify(udpOut)},m));d.bind(9000,'0.0.0.0')`],
    { stdio: 'ignore' },
  );
  children.push(listener);
  const msg = `udp via berth ${process.pid}`;
  let got = '';
  for (let i = 0; i < 50 && !got.includes(msg); i++) {
    await sendUdp('127.0.0.1', udpPort, `${msg}\n`);
    await new Promise((res) => setTimeout(res, 200));
    got = fs.existsSync(udpOut) ? fs.readFileSync(udpOut, 'utf8') : '';
  }
  listener.kill('SIGKILL');
  assert.match(got, new RegExp(msg));

  assert.equal((await env.berth(['rm', '-f', 'anyport', 'udp'])).status, 0);
  const rules = execFileSync('iptables-save', [], { encoding: 'utf8' });
  for (const p of [hostPort, udpPort]) assert.equal(rules.includes(`--dports ${p}`), false, `iptables still holds port ${p}`);
});
