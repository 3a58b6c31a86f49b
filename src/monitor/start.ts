/**
 * Starting berth-monitor: spawn it with its sync fd (and any fds to pass through to CMD), then learn
 * the monitor's pid (MONITOR) and the container's (READY), or why it failed (FAILED).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';
import { MessageReader } from '../runtime/init/channel';
import { buildMonitorArgv, type MonitorOptions } from './args';
import { SYNC_FAILED, SYNC_MONITOR, SYNC_READY } from './protocol';

/** A FAILED from the monitor: status is CMD's exit code (128+signal), or -1 for a monitor failure. */
export class MonitorError extends BerthError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(status === -1 ? 'INTERNAL' : 'FAILED_PRECONDITION', message);
    this.status = status;
    this.name = 'MonitorError';
  }
}

let cachedPath: string | undefined;

/** <repo>/native/build/berth-monitor, found from this file's location (src/ or dist/src/). */
export function defaultMonitorPath(): string {
  if (cachedPath !== undefined) return cachedPath;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'build', 'berth-monitor');
    if (fs.existsSync(candidate)) return (cachedPath = candidate);
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '../../../native/build/berth-monitor');
}

/** An fd to hand through the monitor to CMD: 'pipe' makes a socketpair whose other end the caller gets. */
export type PassFd = 'pipe' | number;

export interface SpawnMonitorOptions extends Omit<MonitorOptions, 'syncFd' | 'passFds'> {
  monitorPath?: string;
  /**
   * Fds CMD gets at 3, 4, ... (in this order), untouched by the monitor; the monitor's own sync fd
   * comes after them. So berth-init's `3 + preserveFds` rule holds when its sync socket is last here.
   */
  passFds?: PassFd[];
  /** Environment for the monitor and CMD (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export interface SpawnedMonitor {
  /** The detached monitor's pid. */
  monitorPid: Promise<number>;
  /** The container pid once CMD has created it; rejects with MonitorError when creation failed. */
  ready: Promise<number>;
  /** For each passFds entry: the caller's end of a 'pipe', else null. */
  passSockets: (net.Socket | null)[];
  /** The fd numbers CMD sees for passFds, in order (3, 4, ...). */
  passFdNumbers: number[];
  /** Stops waiting (closes the sync socket); the monitor keeps running. */
  release(): void;
  /** The invoked monitor process (it exits 0 once the monitor has detached). */
  child: ChildProcess;
}

export function spawnMonitor(opts: SpawnMonitorOptions): SpawnedMonitor {
  const pass = opts.passFds ?? [];
  const passFdNumbers = pass.map((_, i) => 3 + i);
  const syncFd = 3 + pass.length;
  const argv = buildMonitorArgv({ ...opts, syncFd, passFds: passFdNumbers });
  const bin = opts.monitorPath ?? defaultMonitorPath();
  const stdio: StdioOptions = ['ignore', 'ignore', 'pipe', ...pass, 'pipe'];
  const child = spawn(bin, argv, { stdio, env: opts.env ?? process.env });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const sock = child.stdio[syncFd] as net.Socket | null;
  const passSockets = pass.map((p, i) => (p === 'pipe' ? (child.stdio[3 + i] as net.Socket | null) : null));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new BerthError('INTERNAL', `spawn ${bin}: ${err.message}`, { cause: err }))),
  );
  spawnError.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  let resolvePid!: (pid: number) => void;
  let rejectPid!: (err: Error) => void;
  const monitorPid = new Promise<number>((res, rej) => ((resolvePid = res), (rejectPid = rej)));
  monitorPid.catch(() => undefined);

  const failure = async (m: { payload: Buffer } | null): Promise<Error> => {
    if (m !== null) {
      const status = m.payload.length >= 4 ? m.payload.readInt32LE(0) : -1;
      return new MonitorError(status, `berth-monitor: ${m.payload.subarray(4).toString('utf8')}`);
    }
    const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
    const why = stderr.trim() !== '' ? stderr.trim() : `exit status ${code ?? 'unknown'}`;
    return new MonitorError(-1, `berth-monitor ended without reporting readiness: ${why}`);
  };

  const ready = (async (): Promise<number> => {
    if (sock === null) throw new BerthError('INTERNAL', 'berth-monitor: no sync socket');
    const reader = new MessageReader(sock);
    try {
      for (;;) {
        const m = await Promise.race([reader.next(), spawnError]);
        if (m === null || m.type === SYNC_FAILED) throw await failure(m);
        if (m.payload.length < 4) throw new MonitorError(-1, `berth-monitor: short message type ${m.type}`);
        const pid = m.payload.readUInt32LE(0);
        if (m.type === SYNC_MONITOR) resolvePid(pid);
        else if (m.type === SYNC_READY) return pid;
      }
    } catch (err) {
      rejectPid(err as Error);
      throw err;
    } finally {
      sock.destroy();
    }
  })();
  ready.catch(() => undefined);
  return {
    monitorPid,
    ready,
    passSockets,
    passFdNumbers,
    release: () => sock?.destroy(),
    child,
  };
}

/**
 * Starts the monitor and waits until the container exists (CMD exited 0 and the pid is known).
 * On timeout the monitor gets SIGTERM, which it forwards to CMD.
 * For runtimes driven by a CLI (runc create); berth's own executor needs spawnMonitor (it talks to
 * berth-init over a passed fd before the container is ready).
 */
export async function startMonitor(
  opts: SpawnMonitorOptions & { timeoutMs?: number },
): Promise<{ monitorPid: number; containerPid: number }> {
  const m = spawnMonitor(opts);
  let knownPid = 0;
  m.monitorPid.then(
    (p) => (knownPid = p),
    () => undefined,
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new BerthError('TIMEOUT', `berth-monitor: not ready after ${opts.timeoutMs ?? 60_000} ms`)),
      opts.timeoutMs ?? 60_000,
    );
  });
  try {
    const containerPid = await Promise.race([m.ready, timeout]);
    return { monitorPid: await m.monitorPid, containerPid };
  } catch (err) {
    if (err instanceof BerthError && err.code === 'TIMEOUT') {
      // the monitor forwards SIGTERM to CMD; CMD's failure then ends the monitor
      const pid = knownPid;
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
    throw err;
  } finally {
    clearTimeout(timer);
    m.release();
  }
}
