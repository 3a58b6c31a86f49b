/**
 * The two CRI runtimes of bench/cri.ts, each on a private socket, root and state under the bench's
 * work directory: berthd from this repository (a child process: `bin/berthd --config`), and Debian's
 * containerd 1.6 with its CRI plugin (config modelled on /work/shared/lab/containerd.sh: overlayfs,
 * runc with the cgroupfs driver, restrict_oom_score_adj, hosts.toml mirrors, one CNI conflist).
 * Both get the same CNI network shape (bridge + host-local + portmap, each on its own bridge and /24)
 * and pull the same images from the same local registry through a hosts.toml mirror name.
 *
 * Also: memory of a runtime's processes (VmRSS, and Pss from smaps_rollup), and the clean-up of
 * cgroups named after pod and container ids. Everything started here is stopped by pid.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CNI_BIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export interface Daemon {
  name: string;
  pid: number;
  /** CRI endpoint socket path. */
  socket: string;
  /** Extra lines of the daemon's log (for error messages). */
  logTail(): string;
  stop(): Promise<void>;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(child.pid!, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(t);
}

function tail(file: string, n = 3000): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-n);
  } catch {
    return '';
  }
}

/** A bridge + host-local + portmap network (the same shape as berthd's built-in default). */
export function bridgeConflist(name: string, bridge: string, subnet: string, dataDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name,
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    },
    null,
    2,
  );
}

/** hosts.toml for `name` -> http://`registryHost` (plain HTTP, the upstream never used). */
export function writeHostsToml(certsDir: string, name: string, registryHost: string): void {
  fs.mkdirSync(path.join(certsDir, name), { recursive: true });
  fs.writeFileSync(
    path.join(certsDir, name, 'hosts.toml'),
    `server = "http://${registryHost}"\n\n[host."http://${registryHost}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
}

export interface BerthdOptions {
  dir: string;
  certsDir: string;
  confDir: string;
  logLevel: string;
  /** Extra node flags for berthd (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Extra environment for berthd (e.g. BERTH_SPAWNER=1). */
  env?: Record<string, string>;
}

/** berthd as a child process on `dir`/berthd.sock; resolves once it serves CRI. */
export async function startBerthd(o: BerthdOptions): Promise<Daemon & { root: string; runRoot: string }> {
  const root = path.join(o.dir, 'root');
  const runRoot = path.join(o.dir, 'run');
  const socket = path.join(o.dir, 'berthd.sock');
  const config = path.join(o.dir, 'berthd.toml');
  fs.mkdirSync(o.dir, { recursive: true });
  fs.writeFileSync(
    config,
    `root = "${root}"\nrun_root = "${runRoot}"\nsocket = "${socket}"\nregistry_hosts_dir = "${o.certsDir}"\nlog_level = "${o.logLevel}"\n` +
      `restrict_oom_score_adj = true\n[cni]\nconf_dir = "${o.confDir}"\nbin_dirs = ${JSON.stringify(CNI_BIN_DIRS)}\n`,
  );
  const logFile = path.join(o.dir, 'berthd.log');
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [...(o.nodeFlags ?? []), path.join(REPO, 'bin', 'berthd'), '--config', config], {
    stdio: ['ignore', fd, fd],
    cwd: o.dir,
    env: { ...process.env, ...(o.env ?? {}) },
  });
  fs.closeSync(fd);
  const d = { name: 'berthd', pid: child.pid!, socket, root, runRoot, logTail: () => tail(logFile), stop: () => stopChild(child) };
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`berthd exited ${child.exitCode}: ${tail(logFile)}`);
    if (fs.existsSync(socket) && tail(logFile, 1 << 20).includes('berthd serving CRI')) return d;
    await sleep(50);
  }
  await d.stop();
  throw new Error(`berthd did not start: ${tail(logFile)}`);
}

export interface ContainerdOptions {
  dir: string;
  certsDir: string;
  confDir: string;
  sandboxImage: string;
}

/** containerd 1.6 with CRI on `dir`/containerd.sock; resolves once CRI answers (crictl-free: ctr version + socket). */
export async function startContainerdCri(o: ContainerdOptions): Promise<Daemon & { state: string; root: string }> {
  const root = path.join(o.dir, 'root');
  const state = path.join(o.dir, 'state');
  const socket = path.join(o.dir, 'containerd.sock');
  const config = path.join(o.dir, 'config.toml');
  fs.mkdirSync(o.dir, { recursive: true });
  fs.writeFileSync(
    config,
    `version = 2
root = "${root}"
state = "${state}"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "${socket}"

[ttrpc]
  address = "${socket}.ttrpc"

[debug]
  address = ""
  level = "warn"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${path.join(root, 'opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${o.sandboxImage}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "${path.join(state, 'runc')}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${o.confDir}"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${o.certsDir}"
`,
  );
  const logFile = path.join(o.dir, 'containerd.log');
  const fd = fs.openSync(logFile, 'a');
  const child = spawn('/usr/bin/containerd', ['--config', config], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const d = { name: 'containerd', pid: child.pid!, socket, state, root, logTail: () => tail(logFile), stop: () => stopChild(child) };
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`containerd exited ${child.exitCode}: ${tail(logFile)}`);
    if (fs.existsSync(socket) && spawnSync('/usr/bin/ctr', ['-a', socket, 'version'], { stdio: 'ignore', timeout: 5000 }).status === 0) return d;
    await sleep(50);
  }
  await d.stop();
  throw new Error(`containerd did not become ready: ${tail(logFile)}`);
}

// ---------------------------------------------------------------------------------------- memory

export interface ProcMem {
  pid: number;
  /** VmRSS, KiB. */
  rssKiB: number;
  /** Pss from smaps_rollup, KiB (shared pages divided among their users). */
  pssKiB: number;
}

export function procMem(pid: number): ProcMem | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    let pss = NaN;
    try {
      pss = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
    } catch {
      // kernel without smaps_rollup
    }
    return { pid, rssKiB: rss, pssKiB: pss };
  } catch {
    return undefined;
  }
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Basename of /proc/PID/exe ('' when unreadable). */
  exe: string;
  cmdline: string[];
}

/** Every process of the machine (a snapshot of /proc). */
export function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      let exe = '';
      try {
        exe = path.basename(fs.readlinkSync(`/proc/${pid}/exe`));
      } catch {
        // kernel thread or gone
      }
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
      out.push({ pid, ppid, exe, cmdline });
    } catch {
      // gone
    }
  }
  return out;
}

/** containerd's shims for the daemon on `socket`, and the shims' direct children whose exe is `pauseExe`. */
export function containerdProcs(socket: string, pauseExe = 'pause'): { shims: number[]; pauses: number[] } {
  const procs = listProcs();
  const shims = procs.filter((p) => p.exe.startsWith('containerd-shim') && p.cmdline.includes(socket)).map((p) => p.pid);
  const pauses = procs.filter((p) => shims.includes(p.ppid) && p.exe === pauseExe).map((p) => p.pid);
  return { shims, pauses };
}

interface ContainerMeta {
  pid?: number;
  monitorPid?: number;
}
interface PodMeta {
  pause?: { pid: number } | null;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** berthd's monitors and pause processes, from its persisted metadata under `root`. */
export function berthdProcs(root: string): { monitors: number[]; pauses: number[]; workloads: number[] } {
  const monitors: number[] = [];
  const workloads: number[] = [];
  const pauses: number[] = [];
  const cdir = path.join(root, 'containers');
  for (const id of fs.existsSync(cdir) ? fs.readdirSync(cdir) : []) {
    const m = readJson<ContainerMeta>(path.join(cdir, id, 'meta.json'));
    if (m?.monitorPid && m.monitorPid > 0) monitors.push(m.monitorPid);
    if (m?.pid && m.pid > 0) workloads.push(m.pid);
  }
  const pdir = path.join(root, 'pods');
  for (const id of fs.existsSync(pdir) ? fs.readdirSync(pdir) : []) {
    const m = readJson<PodMeta>(path.join(pdir, id, 'meta.json'));
    if (m?.pause && m.pause.pid > 0) pauses.push(m.pause.pid);
  }
  return { monitors, pauses, workloads };
}

// --------------------------------------------------------------------------------------- clean-up

/**
 * Removes, depth-first, every cgroup directory (in every v1 hierarchy and the unified one, up to
 * `maxDepth` levels down) whose name contains one of `ids`; then the `parents` listed (relative
 * names, e.g. "k8s.io") that are empty and were not there before (`preexisting`). Busy ones stay.
 */
export function removeCgroupsNamed(ids: Set<string>, parents: string[], preexisting: Set<string>, maxDepth = 3): string[] {
  const removed: string[] = [];
  const base = '/sys/fs/cgroup';
  const roots = fs.existsSync(base) ? fs.readdirSync(base).map((c) => path.join(base, c)) : [];
  const visit = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (depth < maxDepth) visit(p, depth + 1);
      if ([...ids].some((id) => e.name.includes(id))) {
        try {
          fs.rmdirSync(p);
          removed.push(p);
        } catch {
          // busy or already gone
        }
      }
    }
  };
  if (ids.size > 0) for (const r of roots) visit(r, 1);
  for (const rel of parents) {
    if (preexisting.has(rel)) continue;
    for (const r of roots) {
      try {
        fs.rmdirSync(path.join(r, rel));
        removed.push(path.join(r, rel));
      } catch {
        // busy, absent, or someone else's
      }
    }
  }
  return removed;
}

/** Which of `parents` exist now in any hierarchy (so the clean-up leaves them alone). */
export function existingCgroups(parents: string[]): Set<string> {
  const base = '/sys/fs/cgroup';
  const out = new Set<string>();
  for (const c of fs.existsSync(base) ? fs.readdirSync(base) : []) for (const rel of parents) if (fs.existsSync(path.join(base, c, rel))) out.add(rel);
  return out;
}

export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

export function deleteLink(name: string): void {
  if (linkExists(name)) spawnSync('ip', ['link', 'del', name], { stdio: 'ignore' });
}
