/**
 * berthd end to end over its CRI socket: a daemon process on a temp socket with temp roots, a hosts
 * dir mapping a made-up registry name to a local docker-registry, and a test CNI network (unique
 * bridge and /24). Images: pull, list, status, fsinfo, remove (idempotent). Pods: with and without
 * host network, IP in PodSandboxStatus, DNS/hostname/sysctl inside the pod, duplicates, bad input,
 * unknown ids, filters; kill -9 and restart: pods listed again with the right state. Everything the
 * test makes is removed at the end (mounts, netns, veths, bridge, iptables rules, processes).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { ServiceError } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { criClients, unary, type CriClients } from '../../src/cri/client';
import type * as cri from '../../src/cri/generated';
import { ContentStore } from '../../src/image/content';
import { RegistryClient, pushImage } from '../../src/image/registry';
import { parseReference } from '../../src/image/ref';
import { mountPoints } from '../../src/image/snapshot';
import { CniManager, createPodNamespaces, defaultNetworkConfig, releasePodRuntimeRoot, removePodNamespaces, stopPause } from '../../src/pod';
import { findPlugin } from '../../src/pod/cni/invoke';
import { haveDockerRegistry, startRegistry, type RegistryServer } from '../helpers/registry';
import { buildImage, busyboxEntries, storeBlobs } from '../helpers/registry-images';

const BIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
const BERTHD = path.resolve(__dirname, '..', '..', '..', 'bin', 'berthd');
const skip =
  (process.getuid?.() !== 0 && 'needs root') ||
  (!haveDockerRegistry() && 'needs docker-registry') ||
  (!['bridge', 'host-local', 'portmap', 'loopback'].every((p) => findPlugin(p, BIN_DIRS) !== null) && 'needs the CNI plugins') ||
  undefined;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function linkExists(name: string): boolean {
  return sh('ip', ['-o', 'link']).split('\n').some((l) => l.split(':')[1]?.trim().split('@')[0] === name);
}

async function rejectsWith(p: Promise<unknown>, code: GrpcStatus, re?: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    assert.equal(e.code, code, `expected gRPC code ${code}, got ${e.code}: ${e.details}`);
    if (re) assert.match(e.details, re);
    return;
  }
  assert.fail(`expected gRPC code ${code}, the call succeeded`);
}

interface Running {
  child: ChildProcess;
  clients: CriClients;
  stderr: () => string;
}

async function waitForSocket(sock: string, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`berthd exited ${child.exitCode}: ${stderr()}`);
    if (stderr().includes('"msg":"berthd serving CRI"') && fs.existsSync(sock)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`berthd did not create ${sock}: ${stderr()}`);
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

test('berthd: images and pod sandboxes over CRI, kill -9 and restart', { skip, timeout: 180_000 }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berthd-it-'));
  const n = 100 + ((process.pid + 77) % 150);
  const bridge = `bd${process.pid}`.slice(0, 15);
  const netName = `berthd${process.pid}`;
  const subnet = `10.89.${n}.0/24`;
  const hostPort = 20000 + ((process.pid + 3) % 10000);
  const root = path.join(work, 'root');
  const runRoot = path.join(work, 'run');
  const sock = path.join(work, 'berthd.sock');
  const confDir = path.join(work, 'net.d');
  const certs = path.join(work, 'certs.d');
  fs.mkdirSync(confDir);
  fs.writeFileSync(path.join(confDir, '10-test.conflist'), JSON.stringify(defaultNetworkConfig({ name: netName, bridge, subnet, dataDir: path.join(work, 'ipam') })));
  let registry: RegistryServer | undefined;
  let running: Running | undefined;
  const children: ChildProcess[] = [];

  t.after(async () => {
    running?.clients.close();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // whatever pods are left: their network, pause and namespaces
    const cni = new CniManager({ confDir, binDirs: BIN_DIRS, cacheDir: path.join(root, 'cni', 'results') });
    const podsDir = path.join(root, 'pods');
    for (const id of fs.existsSync(podsDir) ? fs.readdirSync(podsDir) : []) {
      try {
        const meta = JSON.parse(fs.readFileSync(path.join(podsDir, id, 'meta.json'), 'utf8')) as { pause: { pid: number; startTime: string } | null };
        if (meta.pause) await stopPause(meta.pause).catch(() => undefined);
      } catch {
        // no record
      }
      await cni.tearDownPod({ podId: id }).catch(() => undefined);
      await removePodNamespaces(id, path.join(runRoot, 'pods')).catch(() => undefined);
    }
    if (fs.existsSync(path.join(runRoot, 'pods'))) await releasePodRuntimeRoot(path.join(runRoot, 'pods')).catch(() => undefined);
    for (const m of (await mountPoints()).filter((x) => x.startsWith(`${work}/`)).reverse()) execFileSync('umount', ['-l', m]);
    if (linkExists(bridge)) sh('ip', ['link', 'del', bridge]);
    await registry?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  // a registry holding one busybox image, reachable as "mirror.berth.test" through hosts.toml only
  registry = await startRegistry();
  const image = await buildImage({ format: 'oci', layers: [{ entries: busyboxEntries(), compression: 'gzip' }] });
  const src = new ContentStore(path.join(work, 'src'));
  await storeBlobs(src, image.blobs);
  await pushImage(new RegistryClient(), src, image.manifestDesc, parseReference(`${registry.host}/berth/box:1`));
  fs.mkdirSync(path.join(certs, 'mirror.berth.test'), { recursive: true });
  fs.writeFileSync(path.join(certs, 'mirror.berth.test', 'hosts.toml'), `server = "http://${registry.host}"\n`);

  const configFile = path.join(work, 'berthd.toml');
  fs.writeFileSync(
    configFile,
    `root = "${root}"\nrun_root = "${runRoot}"\nregistry_hosts_dir = "${certs}"\nlog_level = "debug"\n[cni]\nconf_dir = "${confDir}"\nbin_dirs = ${JSON.stringify(BIN_DIRS)}\n[runtimes.runc]\nbinary = "runc"\n`,
  );

  const start = async (): Promise<Running> => {
    const child = spawn(process.execPath, [BERTHD, '--config', configFile, '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    await waitForSocket(sock, child, () => err);
    return { child, clients: criClients(sock), stderr: () => err };
  };

  running = await start();
  let { runtime: rt, image: img } = running.clients;
  assert.equal(fs.statSync(sock).mode & 0o777, 0o600);

  // ---- Version and Status
  const ver = await unary<cri.VersionResponse__Output>((cb) => rt.Version({}, cb));
  assert.equal(ver.runtime_name, 'berth');
  const st = await unary<cri.StatusResponse__Output>((cb) => rt.Status({ verbose: true }, cb));
  const cond = Object.fromEntries(st.status!.conditions.map((c) => [c.type, c]));
  assert.equal(cond.RuntimeReady?.status, true);
  assert.equal(cond.NetworkReady?.status, true, cond.NetworkReady?.message);
  assert.deepEqual(st.runtime_handlers.map((h) => h.name), ['', 'berth', 'runc']);
  assert.equal(JSON.parse(st.info.config!).root, root);

  // ---- images
  const name = 'mirror.berth.test/berth/box:1';
  const pulled = await unary<cri.PullImageResponse__Output>((cb) => img.PullImage({ image: { image: name } }, cb));
  assert.equal(pulled.image_ref, image.configDesc.digest, 'image ref is the image ID (config digest)');
  const list = await unary<cri.ListImagesResponse__Output>((cb) => img.ListImages({}, cb));
  assert.equal(list.images.length, 1);
  const im = list.images[0]!;
  assert.equal(im.id, image.configDesc.digest);
  assert.deepEqual(im.repo_tags, [name]);
  assert.deepEqual(im.repo_digests, [`mirror.berth.test/berth/box@${image.manifestDesc.digest}`]);
  assert.equal(Number(im.size), image.manifestDesc.size + image.configDesc.size + image.layers[0]!.desc.size);
  const filtered = await unary<cri.ListImagesResponse__Output>((cb) => img.ListImages({ filter: { image: { image: 'mirror.berth.test/berth/other:1' } } }, cb));
  assert.equal(filtered.images.length, 0);
  const byId = await unary<cri.ImageStatusResponse__Output>((cb) => img.ImageStatus({ image: { image: image.configDesc.digest }, verbose: true }, cb));
  assert.equal(byId.image?.id, image.configDesc.digest);
  assert.equal((JSON.parse(byId.info.info!) as { id: string }).id, image.configDesc.digest);
  const unknown = await unary<cri.ImageStatusResponse__Output>((cb) => img.ImageStatus({ image: { image: 'mirror.berth.test/none:1' } }, cb));
  assert.equal(unknown.image, null);
  const fsi = await unary<cri.ImageFsInfoResponse__Output>((cb) => img.ImageFsInfo({}, cb));
  assert.ok(Number(fsi.image_filesystems[0]!.used_bytes!.value) > 0);
  assert.ok(Number(fsi.image_filesystems[0]!.inodes_used!.value) > 0);
  assert.equal(fsi.image_filesystems[0]!.fs_id!.mountpoint, path.join(root, 'snapshots'));
  assert.equal(fsi.container_filesystems.length, 1);
  await rejectsWith(unary((cb) => img.PullImage({ image: { image: 'mirror.berth.test/berth/missing:1' } }, cb)), GrpcStatus.NOT_FOUND);
  await unary((cb) => img.RemoveImage({ image: { image: name } }, cb));
  assert.equal((await unary<cri.ListImagesResponse__Output>((cb) => img.ListImages({}, cb))).images.length, 0);
  await unary((cb) => img.RemoveImage({ image: { image: name } }, cb)); // idempotent
  await unary((cb) => img.RemoveImage({ image: { image: 'sha256:' + '0'.repeat(64) } }, cb));
  await unary((cb) => img.PullImage({ image: { image: name } }, cb));
  await unary((cb) => img.RemoveImage({ image: { image: image.configDesc.digest } }, cb)); // by ID
  assert.equal((await unary<cri.ListImagesResponse__Output>((cb) => img.ListImages({}, cb))).images.length, 0);

  // ---- pods
  const podConfig = (pname: string, extra: Partial<cri.PodSandboxConfig> = {}): cri.PodSandboxConfig => ({
    metadata: { name: pname, uid: `uid-${pname}`, namespace: 'berthd-test', attempt: 0 },
    hostname: pname,
    labels: { app: pname, suite: 'daemon' },
    annotations: { note: 'x' },
    ...extra,
  });
  const runPod = async (cfg: cri.PodSandboxConfig): Promise<string> =>
    (await unary<cri.RunPodSandboxResponse__Output>((cb) => rt.RunPodSandbox({ config: cfg }, cb))).pod_sandbox_id;
  const podStatus = (id: string, verbose = false): Promise<cri.PodSandboxStatusResponse__Output> =>
    unary<cri.PodSandboxStatusResponse__Output>((cb) => rt.PodSandboxStatus({ pod_sandbox_id: id, verbose }, cb));
  const listPods = async (filter?: cri.PodSandboxFilter): Promise<Record<string, string>> => {
    const r = await unary<cri.ListPodSandboxResponse__Output>((cb) => rt.ListPodSandbox(filter ? { filter } : {}, cb));
    return Object.fromEntries(r.items.map((p) => [p.metadata!.name, p.state]));
  };

  const a = await runPod(
    podConfig('web', {
      dns_config: { servers: ['10.96.0.10'], searches: ['berthd-test.svc.cluster.local'], options: ['ndots:5'] },
      port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: hostPort }],
      linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' }, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    }),
  );
  assert.match(a, /^[0-9a-f]{64}$/);
  const sa = await podStatus(a, true);
  assert.equal(sa.status!.state, 'SANDBOX_READY');
  const ipA = sa.status!.network!.ip;
  assert.match(ipA, new RegExp(`^10\\.89\\.${n}\\.\\d+$`));
  assert.deepEqual(sa.status!.labels, { app: 'web', suite: 'daemon' });
  assert.equal(sa.status!.linux!.namespaces!.options!.pid, 'POD');
  const infoA = JSON.parse(sa.info.info!) as { netns: string; resolvConf: string; pause: { pid: number } | null };
  assert.ok(infoA.pause, 'a shared pid namespace has a pause process');
  assert.match(sh('nsenter', [`--net=${infoA.netns}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0']), new RegExp(`inet ${ipA.replace(/\./g, '\\.')}/24`));
  assert.equal(sh('nsenter', [`--net=${infoA.netns}`, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start']).trim(), '0');
  assert.equal(fs.readFileSync(infoA.resolvConf, 'utf8'), 'search berthd-test.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
  assert.match(sh('iptables-save', ['-t', 'nat']), new RegExp(`--dport ${hostPort}\\b`));
  assert.ok(Number(BigInt(sa.status!.created_at) / 1_000_000n) > Date.now() - 120_000);

  const h = await runPod(podConfig('hostnet', { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } } } }));
  const sh1 = await podStatus(h, true);
  assert.equal(sh1.status!.state, 'SANDBOX_READY');
  assert.equal(sh1.status!.network!.ip, '');
  assert.equal((JSON.parse(sh1.info.info!) as { netns: string | null }).netns, null);

  const c = await runPod(podConfig('worker'));

  await rejectsWith(runPod(podConfig('web')), GrpcStatus.ALREADY_EXISTS);
  await rejectsWith(runPod({ metadata: { name: 'x', namespace: 'y' } }), GrpcStatus.INVALID_ARGUMENT, /config\.metadata\.uid/);
  await rejectsWith(runPod(podConfig('bad', { linux: { sysctls: { 'kernel.panic': '1' } } })), GrpcStatus.INVALID_ARGUMENT, /kernel\.panic/);
  await rejectsWith(unary((cb) => rt.RunPodSandbox({ config: podConfig('h2'), runtime_handler: 'kata' }, cb)), GrpcStatus.NOT_FOUND, /runtime_handler/);
  // a sysctl the kernel refuses: the pod is undone
  await rejectsWith(runPod(podConfig('badval', { linux: { sysctls: { 'net.ipv4.ip_forward': 'nope' } } })), GrpcStatus.INVALID_ARGUMENT);
  assert.deepEqual(Object.keys(await listPods()).sort(), ['hostnet', 'web', 'worker']);
  assert.deepEqual(fs.readdirSync(path.join(root, 'pods')).sort(), [a, h, c].sort(), 'a failed RunPodSandbox leaves no pod directory');
  assert.deepEqual(fs.readdirSync(path.join(runRoot, 'pods')).sort(), [a, h, c].sort(), 'a failed RunPodSandbox leaves no namespaces');

  // filters
  assert.deepEqual(Object.keys(await listPods({ label_selector: { app: 'web' } })), ['web']);
  assert.deepEqual(Object.keys(await listPods({ id: h.slice(0, 12) })), ['hostnet']);
  assert.deepEqual(Object.keys(await listPods({ state: { state: 'SANDBOX_NOTREADY' } })), []);

  // unknown ids
  const ghost = 'f'.repeat(64);
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: ghost }, cb));
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: ghost }, cb));
  await rejectsWith(podStatus(ghost), GrpcStatus.NOT_FOUND);

  // containers are served (test/integration/daemon-containers.test.ts); none here
  assert.equal((await unary<cri.ListContainersResponse__Output>((cb) => rt.ListContainers({}, cb))).containers.length, 0);

  // stop one, then kill -9 the daemon and kill web's pause while berthd is down
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: c }, cb));
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: c }, cb)); // idempotent
  assert.equal((await podStatus(c)).status!.state, 'SANDBOX_NOTREADY');
  running.clients.close();
  running.child.kill('SIGKILL');
  await exited(running.child);
  running = await start();
  ({ runtime: rt, image: img } = running.clients);
  assert.deepEqual(await listPods(), { web: 'SANDBOX_READY', hostnet: 'SANDBOX_READY', worker: 'SANDBOX_NOTREADY' });
  assert.equal((await podStatus(a)).status!.network!.ip, ipA);

  running.clients.close();
  running.child.kill('SIGKILL');
  await exited(running.child);
  process.kill(infoA.pause.pid, 'SIGKILL');
  // a RunPodSandbox that a crash interrupted: record still 'creating', namespaces pinned
  const half = 'e'.repeat(64);
  await createPodNamespaces({ podId: half, runtimeRoot: path.join(runRoot, 'pods'), hostname: 'half' });
  const halfRec = JSON.parse(fs.readFileSync(path.join(root, 'pods', c, 'meta.json'), 'utf8')) as Record<string, unknown>;
  fs.mkdirSync(path.join(root, 'pods', half));
  fs.writeFileSync(path.join(root, 'pods', half, 'meta.json'), JSON.stringify({ ...halfRec, id: half, phase: 'creating', metadata: { name: 'half', uid: 'h', namespace: 'n', attempt: 0 } }));
  // namespaces with no record at all (a crash before the first write)
  const orphan = 'd'.repeat(64);
  await createPodNamespaces({ podId: orphan, runtimeRoot: path.join(runRoot, 'pods') });
  running = await start();
  assert.equal(fs.existsSync(path.join(root, 'pods', half)), false, 'a half-made pod is undone at start');
  assert.equal(fs.existsSync(path.join(runRoot, 'pods', half)), false);
  assert.equal(fs.existsSync(path.join(runRoot, 'pods', orphan)), false, 'orphan namespaces are released at start');
  ({ runtime: rt, image: img } = running.clients);
  assert.deepEqual(await listPods(), { web: 'SANDBOX_NOTREADY', hostnet: 'SANDBOX_READY', worker: 'SANDBOX_NOTREADY' });

  // remove everything: no veth on the bridge, no port mapping, no namespace files
  for (const id of [a, h, c]) await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: id }, cb));
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: a }, cb));
  assert.deepEqual(await listPods(), {});
  assert.equal(sh('ip', ['-o', 'link', 'show', 'master', bridge]).trim(), '');
  assert.doesNotMatch(sh('iptables-save', ['-t', 'nat']), new RegExp(`--dport ${hostPort}\\b`));
  assert.deepEqual(fs.readdirSync(path.join(root, 'pods')), []);
  assert.deepEqual(fs.readdirSync(path.join(runRoot, 'pods')), []);

  // graceful stop: exit 0 and the socket is gone
  running.clients.close();
  running.child.kill('SIGTERM');
  assert.equal(await exited(running.child), 0);
  assert.equal(fs.existsSync(sock), false);
  assert.match(running.stderr(), /"msg":"signal received; stopping"/);
});
