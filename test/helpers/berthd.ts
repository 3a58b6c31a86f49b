/**
 * A berthd process for integration tests: temp roots, a busybox image in a local docker-registry
 * (reached through a hosts.toml mirror name), a test CNI network with its own bridge and /24, and a
 * clean-up (registered on the test) that removes every container process, monitor, pod, namespace,
 * mount, cgroup, bridge and file the run made, even when the test fails.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { ServiceError, status as GrpcStatus } from '@grpc/grpc-js';
import { criClients, type CriClients } from '../../src/cri/client';
import { ContentStore } from '../../src/image/content';
import { RegistryClient, pushImage } from '../../src/image/registry';
import { parseReference } from '../../src/image/ref';
import { mountPoints } from '../../src/image/snapshot';
import { CniManager, defaultNetworkConfig, releasePodRuntimeRoot, removePodNamespaces, stopPause } from '../../src/pod';
import { findPlugin } from '../../src/pod/cni/invoke';
import { defaultMonitorPath } from '../../src/monitor/start';
import { defaultInitPath } from '../../src/runtime/init/launch';
import { haveDockerRegistry, startRegistry, type RegistryServer } from './registry';
import { buildImage, busyboxEntries, storeBlobs, type TestImage } from './registry-images';

export const CNI_BIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
const BERTHD = path.resolve(__dirname, '..', '..', '..', 'bin', 'berthd');

/** Why a berthd integration test cannot run here, or undefined. */
export function berthdSkip(): string | undefined {
  return (
    (process.getuid?.() !== 0 && 'needs root') ||
    (!haveDockerRegistry() && 'needs docker-registry') ||
    (!fs.existsSync(defaultMonitorPath()) && 'berth-monitor is not built') ||
    (!fs.existsSync(defaultInitPath()) && 'berth-init is not built') ||
    (!['bridge', 'host-local', 'portmap', 'loopback'].every((p) => findPlugin(p, CNI_BIN_DIRS) !== null) && 'needs the CNI plugins') ||
    undefined
  );
}

export async function rejectsWith(p: Promise<unknown>, code: GrpcStatus, re?: RegExp): Promise<void> {
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

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export interface Running {
  child: ChildProcess;
  clients: CriClients;
  stderr: () => string;
}

export interface BerthdEnv {
  work: string;
  root: string;
  runRoot: string;
  logDir: string;
  /** berthd's CRI socket. */
  socket: string;
  /** A host directory tests bind into containers. */
  shared: string;
  /** Pods of this test use it as cgroup_parent; removed at the end. */
  cgroupParent: string;
  image: TestImage;
  /** The image's name through the hosts.toml mirror. */
  imageName: string;
  /** Start berthd (again) and wait until it serves; the clients are closed at clean-up. */
  start(): Promise<Running>;
}

interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function linkExists(name: string): boolean {
  return sh('ip', ['-o', 'link']).split('\n').some((l) => l.split(':')[1]?.trim().split('@')[0] === name);
}

function killPid(pid: number): void {
  if (!(pid > 0)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Remove `dir`'s child cgroups and then `dir` itself in every hierarchy (busy ones stay). */
function removeCgroup(name: string, children: boolean): void {
  for (const ctl of fs.existsSync('/sys/fs/cgroup') ? fs.readdirSync('/sys/fs/cgroup') : []) {
    const base = path.join('/sys/fs/cgroup', ctl, name);
    if (!fs.existsSync(base)) continue;
    if (children) {
      for (const d of fs.readdirSync(base, { withFileTypes: true })) {
        if (!d.isDirectory()) continue;
        try {
          fs.rmdirSync(path.join(base, d.name));
        } catch {
          // busy
        }
      }
    }
    try {
      fs.rmdirSync(base);
    } catch {
      // busy, or in use by another berthd
    }
  }
}

/**
 * Sets up a berthd environment for test `t`. `tag` (a few letters) keeps this test's bridge, network,
 * subnet and cgroup parent apart from other tests running at the same time.
 */
export interface BerthdSetUpOptions {
  /** TOML appended to berthd's config file, e.g. `[runtimes.runc]` handler tables. */
  extraConfig?: string;
}

export async function setUpBerthd(t: AfterHook, tag: string, applets: string[], setUp: BerthdSetUpOptions = {}): Promise<BerthdEnv> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `bd${tag}-`));
  let hash = 0;
  for (const c of tag) hash = (hash * 31 + c.charCodeAt(0)) % 1000;
  const n = 100 + ((process.pid + hash) % 150);
  const bridge = `b${tag}${process.pid}`.slice(0, 15);
  const root = path.join(work, 'root');
  const runRoot = path.join(work, 'run');
  const sock = path.join(work, 'berthd.sock');
  const confDir = path.join(work, 'net.d');
  const certs = path.join(work, 'certs.d');
  const logDir = path.join(work, 'logs', 'pod');
  const shared = path.join(work, 'shared');
  const cgroupParent = `berth-${tag}-${process.pid}`;
  fs.mkdirSync(confDir);
  fs.mkdirSync(shared);
  fs.writeFileSync(
    path.join(confDir, '10-test.conflist'),
    JSON.stringify(defaultNetworkConfig({ name: `berthd${tag}${process.pid}`, bridge, subnet: `10.89.${n}.0/24`, dataDir: path.join(work, 'ipam') })),
  );
  let registry: RegistryServer | undefined;
  let running: Running | undefined;
  const children: ChildProcess[] = [];
  // berthd's default cgroup parent (/berth) holds containers of pods without their own parent: remove
  // it afterwards if this test is what made it
  const hadDefaultParent = fs.existsSync('/sys/fs/cgroup/memory/berth');

  t.after(async () => {
    running?.clients.close();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // containers left behind: their processes and monitors
    const cdir = path.join(root, 'containers');
    for (const id of fs.existsSync(cdir) ? fs.readdirSync(cdir) : []) {
      try {
        const meta = JSON.parse(fs.readFileSync(path.join(cdir, id, 'meta.json'), 'utf8')) as { pid: number; monitorPid: number };
        killPid(meta.pid);
        killPid(meta.monitorPid);
      } catch {
        // no record
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    const cni = new CniManager({ confDir, binDirs: CNI_BIN_DIRS, cacheDir: path.join(root, 'cni', 'results') });
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
    removeCgroup(cgroupParent, true);
    if (!hadDefaultParent) removeCgroup('berth', false);
    if (linkExists(bridge)) sh('ip', ['link', 'del', bridge]);
    await registry?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  registry = await startRegistry();
  const image = await buildImage({ format: 'oci', layers: [{ entries: busyboxEntries(applets), compression: 'gzip' }] });
  const src = new ContentStore(path.join(work, 'src'));
  await storeBlobs(src, image.blobs);
  await pushImage(new RegistryClient(), src, image.manifestDesc, parseReference(`${registry.host}/berth/box:1`));
  fs.mkdirSync(path.join(certs, 'mirror.berth.test'), { recursive: true });
  fs.writeFileSync(path.join(certs, 'mirror.berth.test', 'hosts.toml'), `server = "http://${registry.host}"\n`);
  const configFile = path.join(work, 'berthd.toml');
  fs.writeFileSync(
    configFile,
    `root = "${root}"\nrun_root = "${runRoot}"\nregistry_hosts_dir = "${certs}"\nlog_level = "debug"\nrestrict_oom_score_adj = true\n[cni]\nconf_dir = "${confDir}"\nbin_dirs = ${JSON.stringify(CNI_BIN_DIRS)}\n${setUp.extraConfig ?? ''}`,
  );
  const start = async (): Promise<Running> => {
    const child = spawn(process.execPath, [BERTHD, '--config', configFile, '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`berthd exited ${child.exitCode}: ${err}`);
      if (err.includes('"msg":"berthd serving CRI"') && fs.existsSync(sock)) {
        running?.clients.close();
        running = { child, clients: criClients(sock), stderr: () => err };
        return running;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`berthd did not start: ${err}`);
  };
  return { work, root, runRoot, logDir, socket: sock, shared, cgroupParent: `/${cgroupParent}`, image, imageName: 'mirror.berth.test/berth/box:1', start };
}
