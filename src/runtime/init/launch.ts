/**
 * The TypeScript side of the executor channel (native/PROTOCOL.md): spawn berth-init, send PLAN,
 * take PID, write the id maps, let the caller place cgroups and run hooks, send GO, wait for READY
 * (create) or for execve (exec: EOF on the sync socket). A failed launch leaves no process behind.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { BerthError, type ErrorCode } from '../errors';
import { encodePlan } from '../plan/encode';
import type { Plan, PlanIdMapping } from '../plan/types';
import { MSG_ERROR, MSG_GO, MSG_PID, MSG_PLAN, MSG_READY, MessageReader, sendMessage, type Message } from './channel';
import { spawnMonitor, type SpawnMonitorOptions, type SpawnedMonitor } from '../../monitor/start';

/**
 * Running the executor under berth-monitor (native/MONITOR.md "berth's own executor under the
 * monitor"): the monitor's options minus what launch() sets itself (command, pass fds, env).
 * `pidFile` is required: launch() writes the container pid there (temp + rename) after PID and
 * before GO. The plan must not be foreground; stdio comes from the monitor (pipes, or with
 * `terminal` the pty the container sends to `consoleSocket`, which must equal
 * plan.process.consoleSocket). `onSpawn` is not called (the executor is the monitor's child):
 * place cgroups in `onPid`.
 */
export interface MonitorLaunchOptions extends Omit<SpawnMonitorOptions, 'command' | 'passFds' | 'cmdIsContainer' | 'pidFile' | 'env'> {
  pidFile: string;
  /** How long to wait for the monitor's READY after berth-init's READY (default 10000 ms). */
  readyTimeoutMs?: number;
}

const CLONE_NEWUSER = 0x10000000;

export type StdioOption = 'inherit' | 'ignore' | 'pipe' | number;

export interface LaunchOptions {
  plan: Plan;
  /** Default: <repo>/native/build/berth-init. */
  initPath?: string;
  stdio?: [StdioOption, StdioOption, StdioOption];
  /**
   * Caller fds that become 3.. in the container, or a count N meaning the caller's own fds 3..3+N-1
   * (runc's --preserve-fds). Must agree with plan.preserveFds.
   */
  preserveFds?: number[] | number;
  /**
   * Right after the executor is spawned, before PLAN is sent (so before it clones anything): place the
   * executor in the container's cgroups, so that the container process is born in them (runc places
   * its `runc init` the same way). Overlaps the executor's own start-up (exec, memfd re-exec).
   */
  onSpawn?: (executorPid: number) => Promise<void>;
  /**
   * After PID arrives (and after the id maps were written when the plan has a new user namespace):
   * place cgroups, run prestart/createRuntime hooks; returns the state JSON sent with GO.
   */
  onPid?: (pid: number) => Promise<string>;
  /** Run berth-init as the CMD of a berth-monitor (see MonitorLaunchOptions); `stdio` is ignored. */
  monitor?: MonitorLaunchOptions;
}

export interface Launched {
  pid: number;
  /** With `monitor`: the detached monitor's pid. */
  monitorPid?: number;
  executor: ChildProcess;
  /** The executor's exit code (foreground: the container process's status, 128+signal when killed). */
  exited: Promise<number>;
}

/** An ERROR from the executor: the C message names the step and path; errno is the failing errno. */
export class ExecutorError extends BerthError {
  readonly errno: number;
  constructor(code: ErrorCode, errno: number, message: string) {
    super(code, message);
    this.errno = errno;
    this.name = 'ExecutorError';
  }
}

let cachedInitPath: string | undefined;

/** <repo>/native/build/berth-init, found from this file's location (src/ or dist/src/). */
export function defaultInitPath(): string {
  if (cachedInitPath !== undefined) return cachedInitPath;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'build', 'berth-init');
    if (fs.existsSync(candidate)) return (cachedInitPath = candidate);
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '../../../../native/build/berth-init');
}

function errnoCode(errno: number): ErrorCode {
  const e = os.constants.errno;
  if (errno === e.ENOENT) return 'NOT_FOUND';
  if (errno === e.EPERM || errno === e.EACCES) return 'PERMISSION_DENIED';
  if (errno === e.ETIMEDOUT) return 'TIMEOUT';
  if (errno === e.EINVAL) return 'INVALID_ARGUMENT';
  return 'INTERNAL';
}

function executorError(m: Message): ExecutorError {
  const errno = m.payload.length >= 4 ? m.payload.readInt32LE(0) : 0;
  const text = m.payload.subarray(4).toString('utf8');
  return new ExecutorError(errnoCode(errno), errno, `berth-init: ${text}`);
}

function idMapText(maps: readonly PlanIdMapping[]): string {
  return maps.map((m) => `${m.containerId} ${m.hostId} ${m.size}\n`).join('');
}

function writeIdMaps(pid: number, plan: Plan): void {
  const write = (file: string, text: string): void => {
    if (text === '') return;
    try {
      fs.writeFileSync(`/proc/${pid}/${file}`, text);
    } catch (err) {
      throw new BerthError('INTERNAL', `write /proc/${pid}/${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  write('gid_map', idMapText(plan.gidMappings));
  write('uid_map', idMapText(plan.uidMappings));
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal !== null ? os.constants.signals[signal] : undefined;
  return 128 + (n ?? 0);
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export async function launch(opts: LaunchOptions): Promise<Launched> {
  const plan = opts.plan;
  const pf = opts.preserveFds ?? [];
  const preserved = typeof pf === 'number' ? Array.from({ length: pf }, (_, i) => 3 + i) : pf;
  if (preserved.length !== plan.preserveFds) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `launch: ${preserved.length} fds to preserve but the plan says ${plan.preserveFds}`,
    );
  }
  const payload = encodePlan(plan);
  if (opts.monitor) return launchUnderMonitor(opts, opts.monitor, preserved, payload);
  const syncIndex = 3 + preserved.length;
  const stdio: StdioOptions = [...(opts.stdio ?? ['inherit', 'inherit', 'inherit']), ...preserved, 'pipe'];
  const initPath = opts.initPath ?? defaultInitPath();

  const executor = spawn(initPath, [String(syncIndex)], { stdio, env: {} });
  const exited = new Promise<number>((resolve) => {
    executor.once('exit', (code, signal) => resolve(exitCode(code, signal)));
    executor.once('error', () => resolve(127));
  });
  const spawnFailed = new Promise<never>((_, reject) => {
    executor.once('error', (err) =>
      reject(new BerthError('INTERNAL', `launch: spawn ${initPath}: ${err.message}`, { cause: err })),
    );
  });
  spawnFailed.catch(() => undefined);
  const sock = executor.stdio[syncIndex] as net.Socket | null;
  if (sock === null) {
    executor.kill('SIGKILL');
    throw new BerthError('INTERNAL', 'launch: no sync socket');
  }
  const reader = new MessageReader(sock);
  let pid = 0;

  /** The next message, or an error when the executor failed or died. */
  const expect = async (step: string, ...types: number[]): Promise<Message | null> => {
    const m = await Promise.race([reader.next(), spawnFailed]);
    if (m === null) {
      if (types.length === 0) return null;
      const code = await exited;
      throw new BerthError('INTERNAL', `berth-init died ${step} without reporting an error (exit status ${code})`);
    }
    if (m.type === MSG_ERROR) throw executorError(m);
    if (!types.includes(m.type)) {
      throw new BerthError('INTERNAL', `berth-init: unexpected message type ${m.type} ${step}`);
    }
    return m;
  };

  try {
    if (opts.onSpawn) {
      if (executor.pid === undefined) await spawnFailed;
      await Promise.race([opts.onSpawn(executor.pid as number), spawnFailed]);
    }
    sendMessage(sock, MSG_PLAN, payload);
    const pidMsg = await expect('before PID', MSG_PID);
    if (pidMsg === null || pidMsg.payload.length !== 4) throw new BerthError('INTERNAL', 'berth-init: bad PID message');
    pid = pidMsg.payload.readUInt32LE(0);
    if ((plan.cloneFlags & CLONE_NEWUSER) !== 0 && plan.userNamespaceMapped) writeIdMaps(pid, plan);
    const state = opts.onPid ? await opts.onPid(pid) : '';
    sendMessage(sock, MSG_GO, Buffer.from(state, 'utf8'));
    await expect('before READY', MSG_READY);
    if (plan.mode === 'exec') {
      // READY, then execve closes the sync socket; an ERROR may still come (exec failed)
      await expect('after READY');
    }
  } catch (err) {
    // kill the container process first so a foreground executor can still reap it, then the executor
    if (pid > 0) killPid(pid);
    sock.destroy();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, plan.foreground && pid > 0 ? 2000 : 0)));
    await Promise.race([exited, grace]);
    clearTimeout(timer);
    executor.kill('SIGKILL');
    await exited;
    throw err;
  }
  sock.destroy();
  return { pid, executor, exited };
}

function writePidFileAtomic(file: string, pid: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, String(pid));
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing to remove
    }
    throw new BerthError('INTERNAL', `writing pid file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

async function launchUnderMonitor(opts: LaunchOptions, mon: MonitorLaunchOptions, preserved: number[], payload: Buffer): Promise<Launched> {
  const plan = opts.plan;
  if (plan.foreground) throw new BerthError('INVALID_ARGUMENT', 'launch: a plan run under the monitor cannot be foreground');
  if (mon.terminal && plan.process.consoleSocket !== mon.consoleSocket) {
    throw new BerthError('INVALID_ARGUMENT', "launch: with a terminal the plan's console socket must be the monitor's");
  }
  const initPath = opts.initPath ?? defaultInitPath();
  const { readyTimeoutMs, pidFile, ...monitorOpts } = mon;
  const m: SpawnedMonitor = spawnMonitor({
    ...monitorOpts,
    command: [initPath, String(3 + preserved.length)],
    passFds: [...preserved, 'pipe'],
    pidFile,
    env: {},
  });
  const exited = new Promise<number>((resolve) => {
    if (m.child.exitCode !== null) resolve(m.child.exitCode);
    m.child.once('exit', (code, signal) => resolve(exitCode(code, signal)));
    m.child.once('error', () => resolve(127));
  });
  let monitorPid = 0;
  m.monitorPid.then(
    (p) => (monitorPid = p),
    () => undefined,
  );
  const sock = m.passSockets[preserved.length] as net.Socket | null;
  if (sock === null) {
    m.release();
    throw new BerthError('INTERNAL', 'launch: no sync socket to berth-init');
  }
  const reader = new MessageReader(sock);
  // A monitor failure (berth-init died, bad arguments) ends the wait for the next message too.
  const monitorFailed = m.ready.then(
    () => new Promise<never>(() => undefined),
    (err: unknown) => Promise.reject(err instanceof Error ? err : new Error(String(err))),
  );
  monitorFailed.catch(() => undefined);
  const expect = async (step: string, type: number): Promise<Message> => {
    const msg = await Promise.race([reader.next(), monitorFailed]);
    if (msg === null) {
      // berth-init closed the socket: the monitor's FAILED says why
      await Promise.race([m.ready, new Promise((r) => setTimeout(r, 2000))]);
      throw new BerthError('INTERNAL', `berth-init died ${step} without reporting an error`);
    }
    if (msg.type === MSG_ERROR) throw executorError(msg);
    if (msg.type !== type) throw new BerthError('INTERNAL', `berth-init: unexpected message type ${msg.type} ${step}`);
    return msg;
  };
  let pid = 0;
  try {
    sendMessage(sock, MSG_PLAN, payload);
    const pidMsg = await expect('before PID', MSG_PID);
    if (pidMsg.payload.length !== 4) throw new BerthError('INTERNAL', 'berth-init: bad PID message');
    pid = pidMsg.payload.readUInt32LE(0);
    if ((plan.cloneFlags & CLONE_NEWUSER) !== 0 && plan.userNamespaceMapped) writeIdMaps(pid, plan);
    writePidFileAtomic(pidFile, pid);
    const state = opts.onPid ? await opts.onPid(pid) : '';
    sendMessage(sock, MSG_GO, Buffer.from(state, 'utf8'));
    await expect('before READY', MSG_READY);
    sock.destroy();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BerthError('TIMEOUT', 'berth-monitor: no READY after the container was created')), readyTimeoutMs ?? 10_000);
    });
    let readyPid: number;
    try {
      readyPid = await Promise.race([m.ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (readyPid !== pid) throw new BerthError('INTERNAL', `berth-monitor watches pid ${readyPid}, berth-init created ${pid}`);
    return { pid, monitorPid: await m.monitorPid, executor: m.child, exited };
  } catch (err) {
    if (pid > 0) killPid(pid);
    sock.destroy();
    // the monitor ends once the container (or berth-init) is gone; make sure of it
    await Promise.race([m.ready.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    m.release();
    if (monitorPid > 0 && processAlive(monitorPid)) killPid(monitorPid);
    throw err;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
