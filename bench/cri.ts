/**
 * CRI lifecycle latency and memory: berthd (this repository) against containerd 1.6 (Debian's), in
 * one run on one machine (absolute times on a shared machine are noise; the ratios are the result).
 * Not a test. Run as root after `npx tsc -p tsconfig.json`:
 *
 *   node dist/bench/cri.js [--iterations 20] [--runtimes berthd,containerd] [--pods 50]
 *                          [--containerd-endpoint unix:///PATH] [--berthd-log-level info]
 *                          [--berthd-cpu-prof DIR] [--no-latency] [--no-memory] [--json FILE] [--keep]
 *
 * Runtimes: berthd (as shipped: programs through berth-spawner), berthd-fork (BERTH_SPAWNER=0:
 * programs by forking Node, as before), containerd. Each berthd is its own daemon and root.
 *
 * Set-up (not timed): a docker-registry on 127.0.0.1:<free port> serving two images made here from
 * busybox-static (bench.berth.test/bench/busybox:1 with sh, top, sleep; bench.berth.test/bench/pause:1
 * whose /pause is native/build/berth-pause, containerd's sandbox image), reached by both runtimes
 * through a hosts.toml mirror; berthd as a child (`bin/berthd --config`, own root, run_root, socket)
 * and containerd with CRI on its own root, state and socket (or the one given by
 * --containerd-endpoint, which must already reach that registry: then nothing of it is started,
 * stopped or measured for memory). Each runtime gets its own CNI conflist of the same shape (bridge +
 * host-local + portmap on its own bridge and /24). The busybox image is pulled through CRI
 * PullImage, then one untimed warm-up of each lifecycle.
 *
 * Latency: per iteration, for each runtime (the order rotates every iteration) the two sequences of
 * critest -benchmark (cri-tools v1.32.0 pkg/benchmark), with the same configs and the same calls timed:
 *   pod lifecycle (pod.go): RunPodSandbox, PodSandboxStatus(verbose), StopPodSandbox, RemovePodSandbox
 *     on a pod with metadata, labels {} and linux.cgroup_parent from RuntimeConfig ("" for cgroupfs);
 *   container lifecycle (container.go): an untimed RunPodSandbox, then CreateContainer (timed together
 *     with the ImageStatus call that critest's CreateDefaultContainer makes first), StartContainer,
 *     ContainerStatus(verbose), StopContainer(timeout 60), RemoveContainer; then an untimed
 *     StopPodSandbox + RemovePodSandbox. The container runs `top`, as critest's does.
 * Printed: median and p90 per operation per runtime, and berthd/containerd of the medians.
 *
 * Memory: each runtime's daemon RSS right after start (idle) and after the latency runs; then --pods
 * pods, each with one running container (`sleep 3600`), started through CRI; then again the daemon's
 * RSS and PSS, and per container: berthd's monitor (berth-monitor) and pause (only pods with a shared
 * PID namespace have one), containerd's shim and its pause; VmRSS from /proc/PID/status, Pss from
 * /proc/PID/smaps_rollup. Then the pods are stopped and removed (timed as a whole, printed).
 *
 * Clean-up (also on failure and on SIGINT/SIGTERM): every pod left is stopped and removed through CRI,
 * the daemons and the registry are stopped by pid, mounts under the work directory are unmounted,
 * cgroups named after the bench's pod and container ids (and the default parents, if the bench made
 * them) are removed, the bench's bridges are deleted, the work directory is removed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { criClients, unary, type CriClients } from '../src/cri/client';
import type * as cri from '../src/cri/generated';
import { ContentStore } from '../src/image/content';
import { RegistryClient, pushImage } from '../src/image/registry';
import { parseReference } from '../src/image/ref';
import { buildImage, busyboxEntries, storeBlobs, type TestImage } from '../test/helpers/registry-images';
import { startRegistry, type RegistryServer } from '../test/helpers/registry';
import { nowMs, removeTree, unmountUnder } from './lib/proc';
import {
  REPO,
  berthdProcs,
  bridgeConflist,
  containerdProcs,
  deleteLink,
  existingCgroups,
  listProcs,
  procMem,
  removeCgroupsNamed,
  startBerthd,
  startContainerdCri,
  writeHostsToml,
  type Daemon,
} from './lib/cri-peers';

// ------------------------------------------------------------------------------------------ options

interface Options {
  iterations: number;
  runtimes: string[];
  pods: number;
  containerdEndpoint?: string;
  berthdLogLevel: string;
  berthdCpuProf?: string;
  latency: boolean;
  memory: boolean;
  json?: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { iterations: 20, runtimes: ['berthd', 'containerd'], pods: 50, berthdLogLevel: 'info', latency: true, memory: true, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--iterations' || a === '-n') o.iterations = Number(val());
    else if (a === '--runtimes') o.runtimes = val().split(',');
    else if (a === '--pods') o.pods = Number(val());
    else if (a === '--containerd-endpoint') o.containerdEndpoint = val().replace(/^unix:\/\//, '');
    else if (a === '--berthd-log-level') o.berthdLogLevel = val();
    else if (a === '--berthd-cpu-prof') o.berthdCpuProf = path.resolve(val());
    else if (a === '--no-latency') o.latency = false;
    else if (a === '--no-memory') o.memory = false;
    else if (a === '--json') o.json = val();
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown argument ${a}`);
  }
  for (const r of o.runtimes) if (!RUNTIMES.includes(r)) throw new Error(`unknown runtime ${r} (known: ${RUNTIMES.join(', ')})`);
  return o;
}

// ------------------------------------------------------------------------------------------- model

/** berthd-fork: berthd with BERTH_SPAWNER=0 (programs run by forking Node, as before berth-spawner). */
const RUNTIMES = ['berthd', 'berthd-fork', 'containerd'];
const IMAGE = 'bench.berth.test/bench/busybox:1';
const PAUSE_IMAGE = 'bench.berth.test/bench/pause:1';
const MIRROR = 'bench.berth.test';

/** Operations, in the order printed. */
const POD_OPS = ['RunPodSandbox', 'PodSandboxStatus', 'StopPodSandbox', 'RemovePodSandbox'] as const;
const CTR_OPS = ['CreateContainer', 'StartContainer', 'ContainerStatus', 'StopContainer', 'RemoveContainer'] as const;
const OPS = [...POD_OPS, ...CTR_OPS];

interface Rt {
  name: string;
  daemon?: Daemon;
  /** berthd's root (for its metadata), when berthd. */
  berthRoot?: string;
  clients: CriClients;
  cgroupParent: string;
  samples: Map<string, number[]>;
  /** Pod ids this bench made and has not removed yet. */
  livePods: Set<string>;
  allIds: Set<string>;
  mem: Record<string, number | string>;
}

let seq = 0;
function uid(): string {
  return `${process.pid.toString(36)}-${(seq++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function podConfig(prefix: string, cgroupParent: string): cri.PodSandboxConfig {
  return {
    metadata: { name: `${prefix}${uid()}`, uid: `cri-test-uid${uid()}`, namespace: `cri-test-namespace${uid()}`, attempt: 2 },
    linux: { cgroup_parent: cgroupParent },
    labels: {},
  };
}

/** Set by SIGINT/SIGTERM: every CRI call of the bench refuses to start from then on. */
let interrupted = false;

function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

async function timedCall<T>(rt: Rt, op: string, f: () => Promise<T>): Promise<T> {
  checkInterrupted();
  const t0 = nowMs();
  const r = await f();
  const dt = nowMs() - t0;
  let s = rt.samples.get(op);
  if (!s) rt.samples.set(op, (s = []));
  s.push(dt);
  return r;
}

async function runPod(rt: Rt, cfg: cri.PodSandboxConfig, op?: string): Promise<string> {
  checkInterrupted();
  const call = (): Promise<cri.RunPodSandboxResponse__Output> => unary((cb) => rt.clients.runtime.RunPodSandbox({ config: cfg }, cb));
  const res = op ? await timedCall(rt, op, call) : await call();
  rt.livePods.add(res.pod_sandbox_id);
  rt.allIds.add(res.pod_sandbox_id);
  return res.pod_sandbox_id;
}

async function stopRemovePod(rt: Rt, id: string, timed: boolean): Promise<void> {
  checkInterrupted();
  const stop = (): Promise<unknown> => unary((cb) => rt.clients.runtime.StopPodSandbox({ pod_sandbox_id: id }, cb));
  const remove = (): Promise<unknown> => unary((cb) => rt.clients.runtime.RemovePodSandbox({ pod_sandbox_id: id }, cb));
  if (timed) {
    await timedCall(rt, 'StopPodSandbox', stop);
    await timedCall(rt, 'RemovePodSandbox', remove);
  } else {
    await stop();
    await remove();
  }
  rt.livePods.delete(id);
}

/** critest pod.go: one sample of the pod lifecycle. */
async function podLifecycle(rt: Rt, timed: boolean): Promise<void> {
  const cfg = podConfig('PodSandbox-for-creating-performance-test-', rt.cgroupParent);
  const id = await runPod(rt, cfg, timed ? 'RunPodSandbox' : undefined);
  const status = (): Promise<unknown> => unary((cb) => rt.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: true }, cb));
  if (timed) await timedCall(rt, 'PodSandboxStatus', status);
  else await status();
  await stopRemovePod(rt, id, timed);
}

async function createContainer(rt: Rt, podId: string, podCfg: cri.PodSandboxConfig, name: string, command: string[]): Promise<string> {
  checkInterrupted();
  // framework.CreateContainerWithError: ImageStatus first (pull if absent), then CreateContainer
  const st = await unary<cri.ImageStatusResponse__Output>((cb) => rt.clients.image.ImageStatus({ image: { image: IMAGE } }, cb));
  if (!st.image) throw new Error(`${rt.name}: image ${IMAGE} is not there`);
  const res = await unary<cri.CreateContainerResponse__Output>((cb) =>
    rt.clients.runtime.CreateContainer(
      {
        pod_sandbox_id: podId,
        config: { metadata: { name, attempt: 2 }, image: { image: IMAGE, user_specified_image: IMAGE }, command, linux: {} },
        sandbox_config: podCfg,
      },
      cb,
    ),
  );
  rt.allIds.add(res.container_id);
  return res.container_id;
}

/** critest container.go: one sample of the container lifecycle (in a pod made and removed untimed). */
async function containerLifecycle(rt: Rt, timed: boolean): Promise<void> {
  const podCfg = podConfig('create-PodSandbox-for-container-', rt.cgroupParent);
  const podId = await runPod(rt, podCfg);
  const t = <T>(op: string, f: () => Promise<T>): Promise<T> => (timed ? timedCall(rt, op, f) : f());
  const id = await t('CreateContainer', () => createContainer(rt, podId, podCfg, `Benchmark-container-${uid()}`, ['top']));
  await t('StartContainer', () => unary((cb) => rt.clients.runtime.StartContainer({ container_id: id }, cb)));
  await t('ContainerStatus', () => unary((cb) => rt.clients.runtime.ContainerStatus({ container_id: id, verbose: true }, cb)));
  await t('StopContainer', () => unary((cb) => rt.clients.runtime.StopContainer({ container_id: id, timeout: 60 }, cb)));
  await t('RemoveContainer', () => unary((cb) => rt.clients.runtime.RemoveContainer({ container_id: id }, cb)));
  await stopRemovePod(rt, podId, false);
}

// -------------------------------------------------------------------------------------- statistics

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

function fmt(ms: number): string {
  return Number.isNaN(ms) ? '-' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

function latencyTable(rts: Rt[]): string {
  const lines: string[] = [];
  const head = ['operation'.padEnd(18)];
  const peer = rts.find((r) => r.name === 'containerd');
  const mine = peer ? rts.filter((r) => r !== peer) : [];
  const w = (r: Rt): number => Math.max(12, r.name.length + 5);
  for (const r of rts) head.push(`${r.name} med`.padStart(w(r)), 'p90'.padStart(7));
  for (const r of mine) head.push(`${r.name}/containerd`.padStart(r.name.length + 13));
  lines.push(head.join(''));
  for (const op of OPS) {
    const row = [op.padEnd(18)];
    for (const r of rts) {
      const s = r.samples.get(op) ?? [];
      row.push(fmt(quantile(s, 0.5)).padStart(w(r)), fmt(quantile(s, 0.9)).padStart(7));
    }
    for (const r of mine) {
      const ratio = quantile(r.samples.get(op) ?? [], 0.5) / quantile(peer!.samples.get(op) ?? [], 0.5);
      row.push(ratio.toFixed(2).padStart(r.name.length + 13));
    }
    lines.push(row.join(''));
  }
  return lines.join('\n');
}

// ----------------------------------------------------------------------------------------- memory

function kib(n: number): string {
  return Number.isNaN(n) ? '-' : `${(n / 1024).toFixed(2)} MiB`;
}

function sumMem(pids: number[]): { n: number; rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  let n = 0;
  for (const p of pids) {
    const m = procMem(p);
    if (!m) continue;
    n++;
    rss += m.rssKiB;
    pss += m.pssKiB;
  }
  return { n, rss, pss };
}

/** Starts `count` pods with one `sleep 3600` container each; returns the pod ids. */
async function fillPods(rt: Rt, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const cfg = podConfig('bench-mem-', rt.cgroupParent);
    const pod = await runPod(rt, cfg);
    const c = await createContainer(rt, pod, cfg, `sleeper-${i}`, ['sleep', '3600']);
    await unary((cb) => rt.clients.runtime.StartContainer({ container_id: c }, cb));
    ids.push(pod);
  }
  return ids;
}

async function memoryPhase(rt: Rt, pods: number, log: (s: string) => void): Promise<void> {
  if (!rt.daemon) return;
  const t0 = nowMs();
  const ids = await fillPods(rt, pods);
  const fillMs = nowMs() - t0;
  await new Promise((r) => setTimeout(r, 1000));
  const d = procMem(rt.daemon.pid);
  rt.mem['daemonRssLoadedKiB'] = d?.rssKiB ?? NaN;
  rt.mem['daemonPssLoadedKiB'] = d?.pssKiB ?? NaN;
  rt.mem['fillMs'] = fillMs;
  if (rt.berthRoot !== undefined) {
    const p = berthdProcs(rt.berthRoot!);
    const mon = sumMem(p.monitors);
    const pause = sumMem(p.pauses);
    const helper = sumMem(listProcs().filter((x) => x.ppid === rt.daemon!.pid && x.exe === 'berth-spawner').map((x) => x.pid));
    Object.assign(rt.mem, { spawnerRssKiB: helper.n > 0 ? helper.rss : NaN, spawnerPssKiB: helper.n > 0 ? helper.pss : NaN });
    Object.assign(rt.mem, { monitors: mon.n, monitorRssKiB: mon.rss / Math.max(1, mon.n), monitorPssKiB: mon.pss / Math.max(1, mon.n), pauses: pause.n, pauseRssKiB: pause.rss, pausePssKiB: pause.pss });
  } else {
    const p = containerdProcs(rt.daemon.socket);
    const shim = sumMem(p.shims);
    const pause = sumMem(p.pauses);
    Object.assign(rt.mem, { shims: shim.n, shimRssKiB: shim.rss / Math.max(1, shim.n), shimPssKiB: shim.pss / Math.max(1, shim.n), pauses: pause.n, pauseRssKiB: pause.rss / Math.max(1, pause.n), pausePssKiB: pause.pss / Math.max(1, pause.n) });
  }
  log(`${rt.name}: ${pods} pods up in ${(fillMs / 1000).toFixed(1)} s`);
  const t1 = nowMs();
  for (const id of ids) await stopRemovePod(rt, id, false);
  rt.mem['drainMs'] = nowMs() - t1;
}

function memoryTable(rts: Rt[], pods: number): string {
  const lines: string[] = [];
  for (const r of rts) {
    const m = r.mem;
    const n = (k: string): number => Number(m[k] ?? NaN);
    if (r.berthRoot !== undefined) {
      lines.push(
        `${r.name.padEnd(11)} daemon RSS idle ${kib(n('daemonRssIdleKiB'))}, after latency runs ${kib(n('daemonRssAfterKiB'))}, with ${pods} pods ${kib(n('daemonRssLoadedKiB'))} (Pss ${kib(n('daemonPssLoadedKiB'))})`,
        `            per container: monitor RSS ${kib(n('monitorRssKiB'))}, Pss ${kib(n('monitorPssKiB'))} (${m['monitors']} monitors); pause processes: ${m['pauses']}` +
          (Number.isNaN(n('spawnerRssKiB')) ? '' : `; berth-spawner RSS ${kib(n('spawnerRssKiB'))}, Pss ${kib(n('spawnerPssKiB'))}`),
      );
    } else {
      lines.push(
        `containerd  daemon RSS idle ${kib(n('daemonRssIdleKiB'))}, after latency runs ${kib(n('daemonRssAfterKiB'))}, with ${pods} pods ${kib(n('daemonRssLoadedKiB'))} (Pss ${kib(n('daemonPssLoadedKiB'))})`,
        `            per pod: shim RSS ${kib(n('shimRssKiB'))}, Pss ${kib(n('shimPssKiB'))} (${m['shims']} shims); pause RSS ${kib(n('pauseRssKiB'))}, Pss ${kib(n('pausePssKiB'))} (${m['pauses']})`,
      );
    }
    lines.push(`            ${pods} pods + containers started in ${(n('fillMs') / 1000).toFixed(1)} s, stopped and removed in ${(n('drainMs') / 1000).toFixed(1)} s`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------- set-up

async function makeImages(work: string): Promise<{ registry: RegistryServer; images: Array<{ ref: string; image: TestImage }> }> {
  const registry = await startRegistry();
  const box = await buildImage({ format: 'oci', layers: [{ entries: busyboxEntries(['sh', 'top', 'sleep', 'true', 'cat', 'echo', 'ls']), compression: 'gzip' }], cmd: ['/bin/sh'] });
  const pause = await buildImage({
    format: 'oci',
    layers: [{ entries: [{ name: 'pause', data: fs.readFileSync(path.join(REPO, 'native', 'build', 'berth-pause')), mode: 0o755 }], compression: 'gzip' }],
    cmd: ['/pause'],
  });
  const src = new ContentStore(path.join(work, 'src-store'));
  const images = [
    { ref: 'bench/busybox:1', image: box },
    { ref: 'bench/pause:1', image: pause },
  ];
  for (const { ref, image } of images) {
    await storeBlobs(src, image.blobs);
    await pushImage(new RegistryClient(), src, image.manifestDesc, parseReference(`${registry.host}/${ref}`));
  }
  return { registry, images };
}

function subnetByte(salt: number): number {
  return 10 + ((process.pid + salt) % 240);
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const log = (s: string): void => void process.stderr.write(`[cri-bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
  const work = fs.mkdtempSync('/tmp/bcri-') // short: berthd's monitor sockets live under it (sun_path is 108 bytes);
  const certs = path.join(work, 'certs.d');
  const tag = process.pid.toString(36);
  const bridges: Record<string, string> = { berthd: `bcb${tag}`.slice(0, 15), 'berthd-fork': `bcf${tag}`.slice(0, 15), containerd: `bcc${tag}`.slice(0, 15) };
  const dirs: Record<string, string> = { berthd: 'b', 'berthd-fork': 'f', containerd: 'c' };
  const salts: Record<string, number> = { berthd: 0, containerd: 1, 'berthd-fork': 2 };
  const parents = ['berth', 'test.slice'];
  const preexisting = existingCgroups(parents);
  const rts: Rt[] = [];
  let registry: RegistryServer | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => (cleaning ??= cleanUp());

  const cleanUp = async (): Promise<void> => {
    log('clean-up');
    for (const rt of rts) {
      for (const id of [...rt.livePods]) {
        await unary((cb) => rt.clients.runtime.StopPodSandbox({ pod_sandbox_id: id }, cb)).catch(() => undefined);
        await unary((cb) => rt.clients.runtime.RemovePodSandbox({ pod_sandbox_id: id }, cb)).catch(() => undefined);
      }
      rt.clients.close();
      const procs = rt.berthRoot ? berthdProcs(rt.berthRoot) : undefined;
      await rt.daemon?.stop();
      // anything a failed removal left: berthd's monitors and workloads (by recorded pid)
      for (const pid of procs ? [...procs.workloads, ...procs.monitors, ...procs.pauses] : []) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (rt.name === 'containerd' && rt.daemon) {
        for (const pid of containerdProcs(rt.daemon.socket).shims) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    unmountUnder(work);
    const ids = new Set<string>();
    for (const rt of rts) for (const id of rt.allIds) ids.add(id);
    removeCgroupsNamed(ids, parents, preexisting);
    for (const b of Object.values(bridges)) deleteLink(b);
    await registry?.stop();
    if (!o.keep) removeTree(work);
    else log(`work directory kept: ${work}`);
  };
  // First signal: stop at the next call (the main flow then cleans up); a second: clean up now.
  const onSignal = (): void => {
    if (interrupted) {
      void cleanup().finally(() => process.exit(130));
      return;
    }
    interrupted = true;
    log('interrupted: stopping after the call under way, then cleaning up');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    log(`work directory ${work}`);
    const made = await makeImages(work);
    registry = made.registry;
    writeHostsToml(certs, MIRROR, registry.host);

    for (const name of o.runtimes) {
      const dir = path.join(work, dirs[name]!);
      const confDir = path.join(dir, 'net.d');
      fs.mkdirSync(confDir, { recursive: true });
      const salt = salts[name]!;
      const subnet = `10.${93 + salt}.${subnetByte(salt)}.0/24`;
      fs.writeFileSync(path.join(confDir, '10-bench.conflist'), bridgeConflist(`bench-${name}-${tag}`, bridges[name]!, subnet, path.join(dir, 'ipam')));
      let daemon: Daemon | undefined;
      let socket: string;
      let berthRoot: string | undefined;
      if (name === 'berthd' || name === 'berthd-fork') {
        if (o.berthdCpuProf) fs.mkdirSync(o.berthdCpuProf, { recursive: true });
        const b = await startBerthd({
          dir,
          certsDir: certs,
          confDir,
          logLevel: o.berthdLogLevel,
          env: { BERTH_SPAWNER: name === 'berthd-fork' ? '0' : '1' },
          ...(o.berthdCpuProf ? { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${o.berthdCpuProf}`] } : {}),
        });
        daemon = b;
        socket = b.socket;
        berthRoot = b.root;
      } else if (o.containerdEndpoint) {
        socket = o.containerdEndpoint;
      } else {
        const c = await startContainerdCri({ dir, certsDir: certs, confDir, sandboxImage: PAUSE_IMAGE });
        daemon = c;
        socket = c.socket;
      }
      const clients = criClients(socket);
      const rt: Rt = { name, clients, cgroupParent: '', samples: new Map(), livePods: new Set(), allIds: new Set(), mem: {} };
      if (daemon) rt.daemon = daemon;
      if (berthRoot) rt.berthRoot = berthRoot;
      rts.push(rt);
      if (daemon) {
        await new Promise((r) => setTimeout(r, 1000));
        rt.mem['daemonRssIdleKiB'] = procMem(daemon.pid)?.rssKiB ?? NaN;
      }
      const v = await unary<cri.VersionResponse__Output>((cb) => clients.runtime.Version({}, cb));
      // common.GetCgroupParent: "" with the cgroupfs driver, else (also when RuntimeConfig fails, as on containerd 1.6) /test.slice
      const rc = await unary<cri.RuntimeConfigResponse__Output>((cb) => clients.runtime.RuntimeConfig({}, cb)).catch(() => undefined);
      rt.cgroupParent = rc?.linux?.cgroup_driver === 'CGROUPFS' ? '' : '/test.slice'; // common.DefaultSystemdCgroupSlice
      log(`${name}: ${v.runtime_name} ${v.runtime_version} on ${socket}, cgroup driver ${rc?.linux?.cgroup_driver ?? '?'}`);
      await unary((cb) => clients.image.PullImage({ image: { image: IMAGE } }, cb));
      if (name === 'containerd') await unary((cb) => clients.image.PullImage({ image: { image: PAUSE_IMAGE } }, cb));
    }

    if (o.latency) {
      for (const rt of rts) {
        await podLifecycle(rt, false);
        await containerLifecycle(rt, false);
      }
      log(`latency: ${o.iterations} iterations of the pod and container lifecycles, runtimes interleaved`);
      for (let i = 0; i < o.iterations; i++) {
        const order = rts.map((_r, k) => rts[(k + i) % rts.length]!);
        for (const rt of order) await podLifecycle(rt, true);
        for (const rt of [...order].reverse()) await containerLifecycle(rt, true);
        if ((i + 1) % 5 === 0) log(`  ${i + 1}/${o.iterations}`);
      }
      for (const rt of rts) if (rt.daemon) rt.mem['daemonRssAfterKiB'] = procMem(rt.daemon.pid)?.rssKiB ?? NaN;
    }
    if (o.memory) {
      for (const rt of rts) await memoryPhase(rt, o.pods, log);
    }

    const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
    const out: string[] = [];
    if (o.latency) out.push(`CRI lifecycle latency, ms (${o.iterations} iterations; load average ${load})`, latencyTable(rts));
    if (o.memory) out.push('', `memory (${o.pods} pods, one running container each)`, memoryTable(rts, o.pods));
    process.stdout.write(out.join('\n') + '\n');
    if (o.json) {
      const j = rts.map((r) => ({
        runtime: r.name,
        samples: Object.fromEntries(r.samples),
        median: Object.fromEntries(OPS.map((op) => [op, quantile(r.samples.get(op) ?? [], 0.5)])),
        p90: Object.fromEntries(OPS.map((op) => [op, quantile(r.samples.get(op) ?? [], 0.9)])),
        memory: r.mem,
      }));
      fs.writeFileSync(o.json, JSON.stringify({ iterations: o.iterations, pods: o.pods, load, runtimes: j }, null, 2));
    }
    return 0;
  } catch (err) {
    if (interrupted) return 130;
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    for (const rt of rts) if (rt.daemon) log(`${rt.name} log tail:\n${rt.daemon.logTail()}`);
    return 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cri bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
