/**
 * The runtime side of CRI streaming (src/cri/streaming/types.ts StreamingRuntime): interactive exec,
 * attach to a container's main process, and port-forward into a pod's network namespace.
 *
 * For other front ends (the daemonless `berth exec`), `runExec` is the exec that the streaming runtime
 * uses itself:
 *
 *   runExec(containers, id, { cmd, tty, stdin, stdout, stderr, env?, user?, cwd?, detach? }, io)
 *     -> Promise<{ exitCode: number; pid: number }>
 *
 * How an exec runs:
 * - without a terminal: the process's stdio are pipes to this process (berth's handler: the lifecycle
 *   library's foreground exec; "oci" handlers: `runtime exec` in the foreground);
 * - with a terminal: under a berth-monitor of its own (per-exec run dir: attach and console sockets,
 *   pid and exit files, no log), which receives the pty master; this process attaches to the monitor
 *   before the exec'd program can run (berth's handler: while the executor waits for GO; "oci":
 *   the monitor's CMD is a small shell gate that starts `runtime exec -d` only once attached), so no
 *   output is lost. The exit code comes from the monitor's exit record.
 * - detach: started and left running, no io.
 * When the client goes away (an output stream closes before the process ended) the exec'd process is
 * killed, as other CRI runtimes do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { AttachRequest, StreamIO, StreamingRuntime, TerminalSize } from '../cri/streaming/types';
import { readUserDb, resolveUser } from '../image/config/user';
import { attach, queryStatus, type AttachHandle } from '../monitor/attach';
import { readExitFile } from '../monitor/exit-file';
import { MonitorError, spawnMonitor } from '../monitor/start';
import { execProcess } from '../runtime/container/exec';
import { loadContainer } from '../runtime/container/load';
import { readSavedSpec } from '../runtime/container/spec-file';
import { ociState } from '../runtime/container/state';
import { assertCan } from '../runtime/container/status';
import { BerthError } from '../runtime/errors';
import { ExecutorError, launch } from '../runtime/init/launch';
import { compileExecPlan } from '../runtime/plan/compile';
import type { SpecProcess } from '../runtime/spec/types';
import { validateProcess } from '../runtime/spec/validate';
import { ociExecCommand, type OciHandler } from './container-oci';
import type { ContainerManager } from './containers';
import type { PodManager } from './pods';

export interface RunExecOptions {
  /** The command and its arguments (required, non-empty). */
  cmd: string[];
  /** Run the process on a pty (then its stderr goes to the terminal too: io.stdout). */
  tty: boolean;
  /** Give the process a stdin fed from io.stdin (else /dev/null). */
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** "KEY=value" entries added to (and overriding) the container's environment. */
  env?: string[];
  /** "uid[:gid]" or "name[:group]", resolved in the container's /etc/passwd and /etc/group. */
  user?: string;
  /** Working directory inside the container (default: the container's). */
  cwd?: string;
  /** Start and return at once (exitCode 0, io unused); the process runs on. */
  detach?: boolean;
  /** Initial terminal size (tty only); later sizes come from io.resize. */
  size?: TerminalSize;
}

export interface RunExecResult {
  /**
   * The exec'd process's exit status (128+signal when killed); 0 with detach; 127 when the command
   * was not found and 126 when it could not be run (the reason is written to stderr, or to stdout with a tty).
   */
  exitCode: number;
  /** The exec'd process's host pid (0 when it never started). */
  pid: number;
}

export interface StreamPaths {
  /** berth-netns-connect (default: native/build/ of this checkout). */
  netnsConnectPath?: string;
  /** berth-monitor (default: native/build/ of this checkout). */
  monitorPath?: string;
}

// ---- helpers ------------------------------------------------------------------------------------

let cachedHelper: string | undefined;

/** <repo>/native/build/berth-netns-connect, found from this file's location (src/ or dist/src/). */
export function defaultNetnsConnectPath(): string {
  if (cachedHelper !== undefined) return cachedHelper;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'build', 'berth-netns-connect');
    if (fs.existsSync(candidate)) return (cachedHelper = candidate);
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '../../../native/build/berth-netns-connect');
}

function killPid(pid: number, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function exitStatus(code: number | null, sig: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (sig !== null ? (os.constants.signals[sig] ?? 9) : 9);
}

/**
 * Copies `src` into `dst` (without ending dst), with backpressure; resolves when src ends, closes or
 * fails. A null dst drains src.
 */
function forward(src: Readable | null, dst: Writable | null): Promise<void> {
  if (src === null) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      src.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      if (dst === null || dst.destroyed || dst.writableEnded) return;
      if (!dst.write(chunk)) {
        src.pause();
        const resume = (): void => {
          dst.off('drain', resume);
          dst.off('close', resume);
          src.resume();
        };
        dst.once('drain', resume);
        dst.once('close', resume);
      }
    };
    src.on('data', onData);
    src.once('end', done);
    src.once('close', done);
    src.once('error', done);
  });
}

/**
 * Resolves when the client has gone away: an output stream closed or failed before we ended it (or,
 * with no outputs, stdin failed or closed without an end). dispose() stops watching.
 */
function watchClient(io: StreamIO): { gone: Promise<void>; dispose(): void } {
  let resolveGone!: () => void;
  const gone = new Promise<void>((r) => (resolveGone = r));
  const outs = [io.stdout, io.stderr].filter((s): s is Writable => s !== null);
  const offs: (() => void)[] = [];
  const on = (s: NodeJS.EventEmitter, ev: string, fn: () => void): void => {
    s.on(ev, fn);
    offs.push(() => s.off(ev, fn));
  };
  const fire = (): void => resolveGone();
  if (outs.length > 0) {
    for (const s of outs) {
      if (s.destroyed) fire();
      on(s, 'close', fire);
      on(s, 'error', fire);
    }
  } else if (io.stdin !== null) {
    let ended = false;
    on(io.stdin, 'end', () => (ended = true));
    on(io.stdin, 'error', fire);
    on(io.stdin, 'close', () => {
      if (!ended) fire();
    });
  }
  return { gone, dispose: () => offs.forEach((f) => f()) };
}

function endOutputs(io: StreamIO): void {
  for (const s of [io.stdout, io.stderr]) {
    if (s !== null && !s.destroyed && !s.writableEnded) s.end();
  }
}

/** The exec'd process: the container's process with the command, terminal, env, user and cwd asked for. */
export async function execSpecProcess(base: SpecProcess | undefined, opts: RunExecOptions, rootfs: string): Promise<SpecProcess> {
  if (opts.cmd.length === 0 || opts.cmd[0] === '') throw new BerthError('INVALID_ARGUMENT', 'cmd: a command to run is required');
  const p: SpecProcess = base ? (JSON.parse(JSON.stringify(base)) as SpecProcess) : { args: [], cwd: '/', user: { uid: 0, gid: 0 }, env: [] };
  p.args = [...opts.cmd];
  delete p.commandLine;
  p.terminal = opts.tty && opts.detach !== true;
  delete p.consoleSize;
  if (p.terminal && opts.size && opts.size.width > 0 && opts.size.height > 0) p.consoleSize = { width: opts.size.width, height: opts.size.height };
  if (opts.env && opts.env.length > 0) {
    const env = [...(p.env ?? [])];
    for (const e of opts.env) {
      const eq = e.indexOf('=');
      const key = eq < 0 ? e : e.slice(0, eq);
      if (key === '') throw new BerthError('INVALID_ARGUMENT', `env: invalid entry ${JSON.stringify(e)}`);
      const i = env.findIndex((x) => x === key || x.startsWith(`${key}=`));
      if (i >= 0) env[i] = e;
      else env.push(e);
    }
    p.env = env;
  }
  if (opts.user !== undefined && opts.user !== '') {
    const db = /^[0-9]+(:[0-9]+)?$/.test(opts.user.trim()) && opts.user.includes(':') ? { passwd: null, group: null } : await readUserDb(rootfs);
    const u = resolveUser(opts.user, db, 'user');
    p.user = { ...p.user, uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
  }
  if (opts.cwd !== undefined && opts.cwd !== '') {
    if (!opts.cwd.startsWith('/')) throw new BerthError('INVALID_ARGUMENT', `cwd: ${JSON.stringify(opts.cwd)} is not an absolute path`);
    p.cwd = opts.cwd;
  }
  return p;
}

interface ExecTarget {
  id: string;
  oci: OciHandler | null;
  /** The container's run dir (monitor files). */
  dir: string;
  base: SpecProcess | undefined;
  rootfs: string;
}

async function execTarget(containers: ContainerManager, idOrPrefix: string): Promise<ExecTarget> {
  const m = containers.require(idOrPrefix);
  const v = await containers.status(m.id);
  if (v.state !== 'CONTAINER_RUNNING') throw new BerthError('FAILED_PRECONDITION', `container ${m.id} is not running (${v.state})`);
  const spec = containers.savedSpec(m.id) as { process?: SpecProcess } | null;
  return { id: m.id, oci: containers.ociRuntimeOf(m.id), dir: path.dirname(containers.sockets(m.id).attach), base: spec?.process, rootfs: m.rootfs };
}

/** "Cannot run the command" failures become docker-style 126/127 with the reason on the terminal/stderr. */
function cannotRun(err: unknown, io: StreamIO, tty: boolean): RunExecResult | null {
  let code: number | null = null;
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof ExecutorError) {
    const e = os.constants.errno;
    if (err.errno === e.ENOENT) code = 127;
    else if (err.errno === e.EACCES || err.errno === e.ENOEXEC || err.errno === e.EPERM) code = 126;
  } else if (err instanceof MonitorError || (err instanceof BerthError && /exec failed|executable file not found|no such file or directory|permission denied/i.test(msg))) {
    if (/executable file not found|no such file or directory/i.test(msg)) code = 127;
    else if (/permission denied|exec format error/i.test(msg)) code = 126;
  }
  if (code === null) return null;
  const out = tty ? io.stdout : (io.stderr ?? io.stdout);
  if (out !== null && !out.destroyed && !out.writableEnded) out.write(`${msg}\n`);
  return { exitCode: code, pid: 0 };
}

// ---- exec: pipes ---------------------------------------------------------------------------------

interface PipedProcess {
  child: ChildProcess;
  exited: Promise<number>;
  pid: () => Promise<number>;
}

async function pumpPipes(p: PipedProcess, io: StreamIO): Promise<number> {
  const { child } = p;
  const watch = watchClient(io);
  if (child.stdin) {
    child.stdin.on('error', () => undefined);
    if (io.stdin) io.stdin.pipe(child.stdin);
    else child.stdin.end();
  }
  const drained = Promise.all([forward(child.stdout, io.stdout), forward(child.stderr, io.stderr)]);
  try {
    const first = await Promise.race([p.exited, watch.gone.then(() => null)]);
    if (first === null) {
      killPid(await p.pid());
      child.kill('SIGKILL');
      return await p.exited;
    }
    // output written just before the exit is still in the pipes; background children may hold them
    let t: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((r) => (t = setTimeout(r, 2000)))]);
    clearTimeout(t);
    return first;
  } finally {
    watch.dispose();
    if (io.stdin && child.stdin) io.stdin.unpipe(child.stdin);
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
}

function stdioFor(opts: RunExecOptions): ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe' | 'ignore'] {
  return [opts.stdin ? 'pipe' : 'ignore', opts.stdout ? 'pipe' : 'ignore', opts.stderr ? 'pipe' : 'ignore'];
}

async function berthExecPiped(containers: ContainerManager, t: ExecTarget, proc: SpecProcess, opts: RunExecOptions, io: StreamIO): Promise<RunExecResult> {
  if (opts.detach === true) {
    const ex = await execProcess(containers.runtime, { id: t.id, process: proc, detach: true, stdio: ['ignore', 'ignore', 'ignore'] });
    await ex.exited;
    return { exitCode: 0, pid: ex.pid };
  }
  const ex = await execProcess(containers.runtime, { id: t.id, process: proc, stdio: stdioFor(opts) });
  const code = await pumpPipes({ child: ex.executor, exited: ex.exited, pid: () => Promise.resolve(ex.pid) }, io);
  return { exitCode: code, pid: ex.pid };
}

async function readPidFile(file: string, child: ChildProcess | null, tries = 50): Promise<number> {
  for (let i = 0; i < tries; i++) {
    try {
      const n = Number.parseInt(await fs.promises.readFile(file, 'utf8'), 10);
      if (Number.isInteger(n) && n > 0) return n;
    } catch {
      // not written yet
    }
    if (child !== null && (child.exitCode !== null || child.signalCode !== null)) return 0;
    await sleep(20);
  }
  return 0;
}

function tag(): string {
  return randomBytes(6).toString('hex');
}

async function ociExecPiped(h: OciHandler, t: ExecTarget, proc: SpecProcess, opts: RunExecOptions, io: StreamIO): Promise<RunExecResult> {
  const name = `exec-${tag()}`;
  const procFile = path.join(t.dir, `${name}.json`);
  const pidFile = path.join(t.dir, `${name}.pid`);
  await fs.promises.writeFile(procFile, JSON.stringify(proc), { mode: 0o600 });
  try {
    const base = ociExecCommand(h, t.id, procFile, pidFile);
    // `exec` -> `exec -d` for detach
    const argv = opts.detach === true ? [...base.slice(0, base.indexOf('exec') + 1), '-d', ...base.slice(base.indexOf('exec') + 1)] : base;
    if (opts.detach === true) {
      // the detached process keeps the runtime's stdio: a file (unlinked afterwards) rather than a
      // pipe nobody reads; the runtime's own error goes there too
      const errFile = path.join(t.dir, `${name}.err`);
      const fh = await fs.promises.open(errFile, 'w+', 0o600);
      try {
        const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', fh.fd] });
        const code = await new Promise<number>((resolve, reject) => {
          child.once('error', (e) => reject(new BerthError('INTERNAL', `${h.binary} exec: ${e.message}`, { cause: e })));
          child.once('exit', (c, sig) => resolve(exitStatus(c, sig)));
        });
        if (code !== 0) {
          const text = await fs.promises.readFile(errFile, 'utf8').catch(() => '');
          throw new BerthError('INTERNAL', `${h.binary} exec -d exited ${code}: ${text.trim().split('\n').pop() ?? ''}`);
        }
        return { exitCode: 0, pid: await readPidFile(pidFile, null, 5) };
      } finally {
        await fh.close();
        await fs.promises.rm(errFile, { force: true });
      }
    }
    // stderr is always a pipe: the runtime's own failure ("exec failed: ...") is read from it
    const [in0, out1] = stdioFor(opts);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [in0, out1, 'pipe'] });
    let tail = '';
    child.stderr?.on('data', (b: Buffer) => (tail = (tail + b.toString('utf8')).slice(-4096)));
    const exited = new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new BerthError('INTERNAL', `${h.binary} exec: ${e.message}`, { cause: e })));
      child.once('exit', (code, sig) => resolve(exitStatus(code, sig)));
    });
    let pid = 0;
    const status = await pumpPipes(
      {
        child,
        exited,
        pid: async () => (pid = pid > 0 ? pid : await readPidFile(pidFile, child)),
      },
      io,
    );
    if (pid === 0) pid = await readPidFile(pidFile, null, 1);
    // the runtime could not start the command (docker's 127 / 126; the message went to stderr)
    let code = status;
    if (status === 255 && /unable to start container process|exec failed/.test(tail)) {
      if (/no such file or directory|executable file not found/i.test(tail)) code = 127;
      else if (/permission denied|exec format error/i.test(tail)) code = 126;
    }
    return { exitCode: code, pid };
  } finally {
    await fs.promises.rm(procFile, { force: true });
    await fs.promises.rm(pidFile, { force: true });
  }
}

// ---- exec: terminal, under a monitor --------------------------------------------------------------

interface ExecDir {
  dir: string;
  attach: string;
  console: string;
  exit: string;
  pid: string;
  proc: string;
}

const SUN_PATH_MAX = 107;
const SHORT_EXEC_ROOT = '/run/berth-exec';

/**
 * Per-exec dirs under SHORT_EXEC_ROOT are not removed with their container: remove those whose
 * caller died (older than a minute and no live monitor: the monitor unlinks its attach socket when
 * it exits).
 */
async function sweepExecDirs(): Promise<void> {
  let names: string[];
  try {
    names = await fs.promises.readdir(SHORT_EXEC_ROOT);
  } catch {
    return;
  }
  const now = Date.now();
  for (const n of names) {
    const d = path.join(SHORT_EXEC_ROOT, n);
    try {
      const st = await fs.promises.stat(d);
      if (!st.isDirectory() || now - st.mtimeMs < 60_000) continue;
      if (fs.existsSync(path.join(d, 'attach'))) continue;
      await fs.promises.rm(d, { recursive: true, force: true });
    } catch {
      // raced with its owner
    }
  }
}

/** A per-exec run dir in the container's (or, when its paths would not fit sun_path, in /run/berth-exec). */
async function makeExecDir(containerDir: string): Promise<ExecDir> {
  const name = `e${tag()}`;
  let dir = path.join(containerDir, name);
  if (Buffer.byteLength(path.join(dir, 'console')) > SUN_PATH_MAX) {
    dir = path.join(SHORT_EXEC_ROOT, name);
    await sweepExecDirs();
  }
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  return {
    dir,
    attach: path.join(dir, 'attach'),
    console: path.join(dir, 'console'),
    exit: path.join(dir, 'exit'),
    pid: path.join(dir, 'pid'),
    proc: path.join(dir, 'process.json'),
  };
}

/** Attach to a monitor socket that may not exist yet (the monitor creates it right after starting). */
async function attachRetry(socket: string, opts: Parameters<typeof attach>[1], ms = 5000): Promise<AttachHandle> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await attach(socket, opts);
    } catch (err) {
      if (Date.now() > end || !(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
      await sleep(5);
    }
  }
}

class SizeKeeper {
  last: TerminalSize | undefined;
  private handle: AttachHandle | null = null;
  private timers: NodeJS.Timeout[] = [];
  constructor(io: StreamIO, initial?: TerminalSize) {
    this.last = initial;
    io.resize?.onResize((s) => {
      this.last = s;
      this.send();
    });
  }
  private send(): void {
    if (this.handle && this.last && this.last.width > 0 && this.last.height > 0) this.handle.resize(this.last.height, this.last.width);
  }
  /** Sizes sent before the pty reached the monitor are lost: send the last one again a few times. */
  use(h: AttachHandle): void {
    this.handle = h;
    this.send();
    for (const ms of [50, 200, 1000]) this.timers.push(setTimeout(() => this.send(), ms));
  }
  dispose(): void {
    this.timers.forEach((t) => clearTimeout(t));
    this.handle = null;
  }
}

async function exitCodeOf(handle: AttachHandle, exitFile: string, gone: Promise<void>, pid: () => number): Promise<number> {
  const first = await Promise.race([handle.done, gone.then(() => 'gone' as const)]);
  if (first === 'gone') {
    killPid(pid());
    await Promise.race([handle.done, sleep(3000)]);
    handle.detach();
  } else if (first !== null) {
    return first.exitCode;
  }
  // the attach connection ended without the record: the monitor writes the exit file
  for (let i = 0; i < 150; i++) {
    const rec = await readExitFile(exitFile).catch(() => null);
    if (rec !== null) return rec.exitCode;
    await sleep(20);
  }
  return 255;
}

async function berthExecTty(containers: ContainerManager, t: ExecTarget, proc: SpecProcess, opts: RunExecOptions, io: StreamIO, paths: StreamPaths): Promise<RunExecResult> {
  const x = await makeExecDir(t.dir);
  const size = new SizeKeeper(io, opts.size);
  const watch = watchClient(io);
  try {
    const c = await loadContainer(containers.runtime, t.id);
    assertCan('exec', c.status);
    const spec = readSavedSpec(c.paths.config);
    if (size.last) proc.consoleSize = { width: size.last.width, height: size.last.height };
    const checked = validateProcess(proc);
    const plan = compileExecPlan(checked, { pid: c.record.pid, spec, foreground: false, consoleSocket: x.console, preserveFds: 0 });
    let handle: AttachHandle | null = null;
    let launchedPid = 0;
    try {
      const launched = await launch({
        plan,
        preserveFds: 0,
        monitor: {
          pidFile: x.pid,
          exitFile: x.exit,
          attachSocket: x.attach,
          stdin: opts.stdin,
          terminal: true,
          consoleSocket: x.console,
          ...(paths.monitorPath !== undefined ? { monitorPath: paths.monitorPath } : {}),
        },
        onPid: async (pid: number): Promise<string> => {
          launchedPid = pid;
          if (c.cgroup !== null) await c.cgroup.apply(pid);
          // attached before GO: the program cannot have written anything yet
          handle = await attach(x.attach, {
            ...(opts.stdin && io.stdin ? { stdin: io.stdin } : {}),
            ...(io.stdout ? { stdout: io.stdout } : {}),
            ...(io.stderr ? { stderr: io.stderr } : {}),
          });
          return JSON.stringify(ociState(c.record, c.status));
        },
      });
      launchedPid = launched.pid;
    } catch (err) {
      (handle as AttachHandle | null)?.detach();
      const r = cannotRun(err, io, true);
      if (r !== null) return r;
      throw err;
    }
    const h = handle as AttachHandle | null;
    if (h === null) throw new BerthError('INTERNAL', 'exec: not attached to the monitor');
    size.use(h);
    const code = await exitCodeOf(h, x.exit, watch.gone, () => launchedPid);
    return { exitCode: code, pid: launchedPid };
  } finally {
    size.dispose();
    watch.dispose();
    await fs.promises.rm(x.dir, { recursive: true, force: true });
  }
}

/**
 * The monitor's CMD for an oci exec with a terminal: waits for a byte on fd 3 (sent once we are
 * attached), closes it, then becomes `runtime exec -d --console-socket ...`.
 */
const GATE = 'read -r _ <&3; exec 3<&-; exec "$@"';

async function ociExecTty(h: OciHandler, t: ExecTarget, proc: SpecProcess, opts: RunExecOptions, io: StreamIO, paths: StreamPaths): Promise<RunExecResult> {
  const x = await makeExecDir(t.dir);
  const size = new SizeKeeper(io, opts.size);
  const watch = watchClient(io);
  try {
    if (size.last) proc.consoleSize = { width: size.last.width, height: size.last.height };
    await fs.promises.writeFile(x.proc, JSON.stringify(proc), { mode: 0o600 });
    const base = ociExecCommand(h, t.id, x.proc, x.pid);
    const at = base.indexOf('exec') + 1;
    const runtimeArgv = [...base.slice(0, at), '-d', '--console-socket', x.console, ...base.slice(at)];
    const m = spawnMonitor({
      command: ['/bin/sh', '-c', GATE, 'sh', ...runtimeArgv],
      pidFile: x.pid,
      exitFile: x.exit,
      attachSocket: x.attach,
      stdin: opts.stdin,
      terminal: true,
      consoleSocket: x.console,
      passFds: ['pipe'],
      ...(paths.monitorPath !== undefined ? { monitorPath: paths.monitorPath } : {}),
    });
    const gate = m.passSockets[0] ?? null;
    gate?.on('error', () => undefined);
    let handle: AttachHandle | null = null;
    let pid = 0;
    try {
      await m.monitorPid;
      handle = await attachRetry(x.attach, {
        ...(opts.stdin && io.stdin ? { stdin: io.stdin } : {}),
        ...(io.stdout ? { stdout: io.stdout } : {}),
        ...(io.stderr ? { stderr: io.stderr } : {}),
      });
      // a reply on a later connection means the monitor has taken ours from the backlog too
      await queryStatus(x.attach);
      gate?.end('\n');
      let timer: NodeJS.Timeout | undefined;
      try {
        pid = await Promise.race([
          m.ready,
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new BerthError('TIMEOUT', `${h.binary} exec: not started after 60 s`)), 60_000))),
        ]);
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      handle?.detach();
      gate?.destroy();
      m.release();
      const r = cannotRun(err, io, true);
      if (r !== null) return r;
      throw err;
    }
    size.use(handle);
    const code = await exitCodeOf(handle, x.exit, watch.gone, () => pid);
    return { exitCode: code, pid };
  } finally {
    size.dispose();
    watch.dispose();
    await fs.promises.rm(x.dir, { recursive: true, force: true });
  }
}

// ---- exec --------------------------------------------------------------------------------------

/**
 * Runs `opts.cmd` in a running container (berth's handler or an "oci" one) with the client's streams.
 * io.stdout / io.stderr are ended when the process's output has ended (not with detach); io.stdin is
 * read until it ends (its end closes the process's stdin; with a tty, send ^D instead).
 * Errors: NOT_FOUND (no such container), FAILED_PRECONDITION (not running), INVALID_ARGUMENT (cmd).
 */
export async function runExec(containers: ContainerManager, id: string, opts: RunExecOptions, io: StreamIO, paths: StreamPaths = {}): Promise<RunExecResult> {
  const t = await execTarget(containers, id);
  const proc = await execSpecProcess(t.base, opts, t.rootfs);
  const detach = opts.detach === true;
  const sio: StreamIO = detach
    ? { stdin: null, stdout: null, stderr: null, resize: null }
    : { stdin: opts.stdin ? io.stdin : null, stdout: opts.stdout ? io.stdout : null, stderr: opts.stderr && !opts.tty ? io.stderr : null, resize: opts.tty ? io.resize : null };
  try {
    if (opts.tty && !detach) {
      return t.oci !== null ? await ociExecTty(t.oci, t, proc, opts, sio, paths) : await berthExecTty(containers, t, proc, opts, sio, paths);
    }
    try {
      return t.oci !== null ? await ociExecPiped(t.oci, t, proc, opts, sio) : await berthExecPiped(containers, t, proc, opts, sio);
    } catch (err) {
      const r = cannotRun(err, sio, false);
      if (r !== null) return r;
      throw err;
    }
  } finally {
    if (!detach) endOutputs(io);
  }
}

// ---- attach ------------------------------------------------------------------------------------

/**
 * Attaches the client's streams to a running container's main process through its monitor. stdin is
 * used only when the container was created with stdin; with stdin_once (and no tty) the end of the
 * client's stdin closes the container's, otherwise it ends the attach. Resolves when the container
 * exits, the client's stdin ends (see above) or the client goes away (the container keeps running).
 */
export async function attachContainer(containers: ContainerManager, req: AttachRequest, io: StreamIO): Promise<void> {
  const m = containers.require(req.containerId);
  const v = await containers.status(m.id);
  if (v.state !== 'CONTAINER_RUNNING') throw new BerthError('FAILED_PRECONDITION', `container ${m.id} is not running (${v.state})`);
  const sio: StreamIO = {
    stdin: req.stdin && m.stdin ? io.stdin : null,
    stdout: req.stdout ? io.stdout : null,
    stderr: req.stderr && !m.tty ? io.stderr : null,
    resize: m.tty ? io.resize : null,
  };
  const watch = watchClient(sio);
  // The end of the client's stdin (as other CRI runtimes): with stdin_once and no tty it closes the
  // container's stdin and the output goes on until the container exits; otherwise it ends the attach
  // (e.g. the client's detach keys) and the container keeps its stdin.
  const closesStdin = m.stdinOnce && !m.tty;
  const stdinEnded = new Promise<'stdin-ended'>((resolve) => {
    if (sio.stdin !== null && !closesStdin) sio.stdin.once('end', () => resolve('stdin-ended'));
  });
  let handle: AttachHandle | null = null;
  let size: SizeKeeper | null = null;
  try {
    handle = await attach(containers.sockets(m.id).attach, {
      ...(sio.stdin ? { stdin: sio.stdin } : {}),
      ...(sio.stdout ? { stdout: sio.stdout } : {}),
      ...(sio.stderr ? { stderr: sio.stderr } : {}),
      keepStdinOpen: !closesStdin,
    });
    if (m.tty) {
      size = new SizeKeeper(sio);
      size.use(handle);
    }
    const first = await Promise.race([handle.done, watch.gone.then(() => 'gone' as const), stdinEnded]);
    if (first === 'gone' || first === 'stdin-ended') handle.detach();
  } catch (err) {
    // the monitor's socket is gone: the container has just exited
    if (err instanceof BerthError && err.code === 'NOT_FOUND') return;
    throw err;
  } finally {
    size?.dispose();
    watch.dispose();
    endOutputs(io);
  }
}

// ---- port-forward ------------------------------------------------------------------------------

function connectLocal(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ host, port, allowHalfOpen: true });
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Relays `stream` <-> `sock` with half-closes until both directions ended or either side failed. */
function relaySocket(stream: Duplex, sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    sock.on('error', () => sock.destroy());
    stream.on('error', () => sock.destroy());
    stream.pipe(sock);
    sock.pipe(stream);
    sock.once('close', () => {
      stream.unpipe(sock);
      resolve();
    });
    stream.once('close', () => sock.destroy());
  });
}

/**
 * Connects `stream` to localhost:port in the pod's network namespace (berth-netns-connect) or, for a
 * host-network pod, on the host; resolves when both directions have ended, rejects when the
 * connection cannot be made (the message says why, e.g. connection refused).
 */
export async function forwardPort(pods: PodManager, podSandboxId: string, port: number, stream: Duplex, paths: StreamPaths = {}): Promise<void> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BerthError('INVALID_ARGUMENT', `port: ${port} is not a TCP port`);
  const pod = pods.require(podSandboxId);
  if (pods.stateOf(pod) !== 'SANDBOX_READY') throw new BerthError('FAILED_PRECONDITION', `pod sandbox ${pod.id} is not ready`);
  if (pod.namespaceOptions.network === 'NODE' || pod.netns === null) {
    let sock: net.Socket;
    try {
      sock = await connectLocal('127.0.0.1', port);
    } catch (e4) {
      try {
        sock = await connectLocal('::1', port);
      } catch (e6) {
        throw new BerthError(
          'FAILED_PRECONDITION',
          `failed to connect to localhost:${port} of pod ${pod.id} (host network), IPv4: ${(e4 as Error).message}, IPv6: ${(e6 as Error).message}`,
        );
      }
    }
    return relaySocket(stream, sock);
  }
  const helper = paths.netnsConnectPath ?? defaultNetnsConnectPath();
  const child = spawn(helper, [pod.netns, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let errText = '';
  child.stderr?.on('data', (b: Buffer) => {
    if (errText.length < 4096) errText += b.toString();
  });
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (e) => reject(new BerthError('INTERNAL', `port-forward: spawn ${helper}: ${e.message}`, { cause: e })));
    child.once('close', (code, sig) => resolve(exitStatus(code, sig)));
  });
  let clientGone = false;
  const onClose = (): void => {
    clientGone = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  stream.once('close', onClose);
  stream.on('error', () => undefined);
  if (child.stdin) stream.pipe(child.stdin);
  child.stdout?.pipe(stream);
  try {
    const code = await exited;
    if (code === 0) return;
    const why = errText.trim().split('\n').filter((l) => l !== '').pop() ?? `exit status ${code}`;
    // 2: the connection failed (the stream may be closed already: the helper's stdout ended it)
    if (code === 2) throw new BerthError('FAILED_PRECONDITION', `port-forward to port ${port} of pod ${pod.id}: ${why}`);
    if (clientGone) return;
    throw new BerthError('INTERNAL', `port-forward to port ${port} of pod ${pod.id}: ${why}`);
  } finally {
    stream.off('close', onClose);
    if (child.stdin) stream.unpipe(child.stdin);
  }
}

// ---- the StreamingRuntime --------------------------------------------------------------------

export function streamingRuntime(containers: ContainerManager, pods: PodManager, paths: StreamPaths = {}): StreamingRuntime {
  return {
    exec: async (req, io) => {
      const r = await runExec(containers, req.containerId, { cmd: req.cmd, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }, io, paths);
      return { exitCode: r.exitCode };
    },
    attach: (req, io) => attachContainer(containers, req, io),
    portForward: (podSandboxId, port, stream) => forwardPort(pods, podSandboxId, port, stream, paths),
  };
}
