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
   * After PID arrives (and after the id maps were written when the plan has a new user namespace):
   * place cgroups, run prestart/createRuntime hooks; returns the state JSON sent with GO.
   */
  onPid?: (pid: number) => Promise<string>;
}

export interface Launched {
  pid: number;
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
