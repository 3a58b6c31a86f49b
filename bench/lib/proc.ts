/**
 * Process helpers for benchmarks: run a command under GNU time (wall time, peak RSS, CPU), read a
 * daemon's peak RSS and CPU from /proc, start and stop containerd on a private socket, and find
 * mounts under a directory. Everything started here is stopped by pid.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export const GNU_TIME = '/usr/bin/time';

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface Timed {
  /** Wall time measured by the parent around the process (ms). */
  wallMs: number;
  /** Peak RSS of the process (KiB), from GNU time %M. */
  maxRssKiB: number;
  /** User and system CPU seconds of the process and its waited-for children. */
  userS: number;
  sysS: number;
  stdout: string;
}

/**
 * Runs argv under GNU time; stdout goes to `errFile`.out (returned), stderr to `errFile`.
 * Throws with the stderr tail on a non-zero exit.
 */
export function timed(argv: string[], errFile: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
  const timeFile = `${errFile}.time`;
  const outFile = `${errFile}.out`;
  const fd = fs.openSync(errFile, 'w');
  const ofd = fs.openSync(outFile, 'w');
  const t0 = nowMs();
  const child = spawn(GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, ...argv], { stdio: ['ignore', ofd, fd], cwd: opts.cwd, env: opts.env ?? process.env });
  fs.closeSync(fd);
  fs.closeSync(ofd);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = nowMs() - t0;
      if (code !== 0) {
        reject(new Error(`${argv.join(' ')}: exit ${code}: ${fs.readFileSync(errFile, 'utf8').slice(-3000)}`));
        return;
      }
      const lines = fs.readFileSync(timeFile, 'utf8').trim().split('\n');
      const [rss, user, sys] = lines[lines.length - 1]!.split(' ').map(Number);
      resolve({ wallMs, maxRssKiB: rss!, userS: user!, sysS: sys!, stdout: fs.readFileSync(outFile, 'utf8') });
    });
  });
}

/** Peak RSS (VmHWM, KiB) and CPU seconds (utime+stime) of a live process. */
export function procUsage(pid: number): { hwmKiB: number; cpuS: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const hz = 100; // USER_HZ on Linux
  const cpuS = (Number(fields[11]) + Number(fields[12])) / hz; // utime, stime (fields 14, 15)
  return { hwmKiB: hwm, cpuS };
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = f[4]!.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(`${dir}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

export function unmountUnder(dir: string): void {
  for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
}

/** Removes a directory tree after unmounting whatever is mounted under it. */
export function removeTree(dir: string): void {
  unmountUnder(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function stopPid(child: ChildProcess, pid: number, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(pid, 'SIGTERM');
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(t);
}

export interface Containerd {
  pid: number;
  socket: string;
  dir: string;
  /** `ctr` argv prefix talking to this daemon. */
  ctr: string[];
  stop(): Promise<void>;
}

/**
 * containerd on a private socket, root and state under `dir` (created), CRI and the exotic
 * snapshotters disabled; the default (overlayfs) snapshotter stays.
 */
export async function startContainerd(dir: string): Promise<Containerd> {
  fs.mkdirSync(dir, { recursive: true });
  const socket = path.join(dir, 'containerd.sock');
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(
    config,
    `version = 2
root = "${path.join(dir, 'root')}"
state = "${path.join(dir, 'state')}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

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
  path = "${path.join(dir, 'opt')}"
`,
  );
  const logFile = path.join(dir, 'containerd.log');
  const fd = fs.openSync(logFile, 'a');
  const child = spawn('/usr/bin/containerd', ['--config', config], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const pid = child.pid!;
  const ctr = ['/usr/bin/ctr', '-a', socket];
  const stop = async (): Promise<void> => {
    await stopPid(child, pid);
  };
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`containerd exited (${child.exitCode}): ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    if (fs.existsSync(socket) && spawnSync(ctr[0]!, [...ctr.slice(1), 'version'], { stdio: 'ignore', timeout: 5000 }).status === 0) {
      return { pid, socket, dir, ctr, stop };
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`containerd did not become ready: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
}

/**
 * A fresh ext4 filesystem (sparse image file, loop mount) at `mountPoint`: every run starts on a
 * pristine filesystem, so one run's deletions cannot slow the next one's file creation (on a host
 * ext4 without a journal, inode allocation skips inodes deleted in the last minutes, scanning for
 * them: `recently_deleted` in fs/ext4/ialloc.c), and writeback of other work on the host disk is
 * kept apart from the run's own metadata.
 */
export function makeScratchFs(image: string, mountPoint: string, sizeBytes: number): void {
  fs.writeFileSync(image, '');
  fs.truncateSync(image, sizeBytes);
  const mk = spawnSync('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0,nodiscard', image], { encoding: 'utf8' });
  if (mk.status !== 0) throw new Error(`mkfs.ext4 ${image}: ${mk.stderr}`);
  fs.mkdirSync(mountPoint, { recursive: true });
  const m = spawnSync('mount', ['-o', 'loop', image, mountPoint], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`mount -o loop ${image}: ${m.stderr}`);
}

/** Unmounts everything at or under `mountPoint` (the loop device is released with it) and removes the image. */
export function dropScratchFs(image: string, mountPoint: string): void {
  for (const mp of mountsUnder(mountPoint)) {
    const r = spawnSync('umount', [mp], { stdio: 'ignore' });
    if (r.status !== 0) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  }
  fs.rmSync(mountPoint, { recursive: true, force: true });
  fs.rmSync(image, { force: true });
}
