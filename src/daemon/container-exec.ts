/**
 * ExecSync for berthd: runs a command in a running container through the lifecycle library's exec
 * (the executor joins the container's namespaces and cgroup, foreground), with stdout and stderr
 * captured through pipes (each capped), the container's own process (env, user, cwd, capabilities,
 * ...) as the defaults, no terminal, and a timeout after which the exec'd process is killed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { ociExecCommand, type OciHandler } from './container-oci';
import { containerProcess, execProcess } from '../runtime/container/exec';
import type { RuntimeOptions } from '../runtime/container/options';
import { BerthError } from '../runtime/errors';
import type { SpecProcess } from '../runtime/spec/types';

/**
 * stdout and stderr together: what fits in kubelet's 16 MiB gRPC message limit, with room for the
 * rest of the message (the output beyond is read and dropped).
 */
export const EXEC_OUTPUT_LIMIT = 16 * 1024 * 1024 - 64 * 1024;

export interface ExecSyncResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** The exec'd process: the container's process with `cmd` as args, without a terminal. */
export function execSyncProcess(base: SpecProcess | undefined, cmd: readonly string[]): SpecProcess {
  if (cmd.length === 0 || cmd[0] === '') throw new BerthError('INVALID_ARGUMENT', 'cmd: a command to run is required');
  const p: SpecProcess = base ? (JSON.parse(JSON.stringify(base)) as SpecProcess) : { args: [], cwd: '/', user: { uid: 0, gid: 0 }, env: [] };
  p.args = [...cmd];
  delete p.commandLine;
  p.terminal = false;
  delete p.consoleSize;
  return p;
}

/** A byte budget shared by several sinks. */
export interface OutputBudget {
  left: number;
}

/**
 * Collects a stream within a byte budget (shared with other sinks, or its own `limit`); the rest is
 * read and dropped so the writer never blocks.
 */
export class CappedSink {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly budget: OutputBudget;
  truncated = false;
  constructor(limit: number | OutputBudget) {
    this.budget = typeof limit === 'number' ? { left: limit } : limit;
  }
  push(chunk: Buffer): void {
    const room = this.budget.left;
    if (room <= 0) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
    this.budget.left -= part.length;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

function drain(stream: Readable | null, sink: CappedSink): Promise<void> {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    stream.on('data', (c: Buffer) => sink.push(c));
    stream.once('close', () => resolve());
    stream.once('end', () => resolve());
    stream.once('error', () => resolve());
  });
}

export interface ExecSyncOptions {
  /** Seconds; 0 = no timeout. */
  timeoutSec: number;
  /** stdout + stderr bytes kept (default EXEC_OUTPUT_LIMIT). */
  limit?: number;
  /** How long to keep reading output after the process exited (background children may hold the pipes). */
  drainMs?: number;
}

/** A started exec'd process as seen by the capture loop. */
export interface CapturedProcess {
  stdout: Readable | null;
  stderr: Readable | null;
  /** Its exit code (128+signal when killed). */
  exited: Promise<number>;
  /** Kills the exec'd process (on timeout); `exited` must settle afterwards. */
  kill(): Promise<void> | void;
}

/**
 * Captures a started process's stdout and stderr within one shared budget, waits for its exit or the
 * timeout (then kills it: TIMEOUT error), and keeps reading output for a grace period after the exit.
 */
export async function captureExec(p: CapturedProcess, cmd: readonly string[], o: ExecSyncOptions): Promise<ExecSyncResult> {
  const budget: OutputBudget = { left: o.limit ?? EXEC_OUTPUT_LIMIT };
  const out = new CappedSink(budget);
  const err = new CappedSink(budget);
  const drained = Promise.all([drain(p.stdout, out), drain(p.stderr, err)]);
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<void>((resolve) => {
    if (o.timeoutSec > 0)
      timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, o.timeoutSec * 1000);
  });
  let code: number;
  try {
    const first = await Promise.race([p.exited, timeout.then(() => null)]);
    if (first === null) {
      await p.kill();
      await p.exited;
      throw new BerthError('TIMEOUT', `command ${JSON.stringify(cmd)} timed out after ${o.timeoutSec}s`);
    }
    code = first;
  } finally {
    if (timer) clearTimeout(timer);
    if (timedOut) {
      p.stdout?.destroy();
      p.stderr?.destroy();
    }
  }
  // output written just before exit is still in the pipes; background children may keep them open
  let graceTimer: NodeJS.Timeout | undefined;
  await Promise.race([drained, new Promise<void>((r) => (graceTimer = setTimeout(r, o.drainMs ?? 2000)))]);
  if (graceTimer) clearTimeout(graceTimer);
  p.stdout?.destroy();
  p.stderr?.destroy();
  return { exitCode: code, stdout: out.bytes(), stderr: err.bytes() };
}

export async function execSync(runtime: RuntimeOptions, id: string, cmd: readonly string[], o: ExecSyncOptions): Promise<ExecSyncResult> {
  const proc = execSyncProcess(await containerProcess(runtime, id), cmd);
  let ex: Awaited<ReturnType<typeof execProcess>>;
  try {
    ex = await execProcess(runtime, { id, process: proc, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // the container exists (checked by the caller): a missing binary is not a missing container
    if (e instanceof BerthError && e.code === 'NOT_FOUND') throw new BerthError('INTERNAL', `exec failed: ${e.message}`, { cause: e });
    throw e;
  }
  return captureExec(
    {
      stdout: ex.executor.stdout,
      stderr: ex.executor.stderr,
      exited: ex.exited,
      kill: () => {
        try {
          process.kill(ex.pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      },
    },
    cmd,
    o,
  );
}

/**
 * ExecSync in a container of an oci handler: `binary --root R exec --process F --pid-file P ID` in the
 * foreground (the runtime exits with the process's status), the container's spec process (from the
 * bundle's config.json) as the defaults. On timeout the exec'd process (pid from the pid file) is killed.
 * `workDir` holds the process and pid files (removed afterwards).
 */
export async function ociExecSync(h: OciHandler, id: string, base: SpecProcess | undefined, workDir: string, cmd: readonly string[], o: ExecSyncOptions): Promise<ExecSyncResult> {
  const proc = execSyncProcess(base, cmd);
  const tag = `exec-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const procFile = path.join(workDir, `${tag}.json`);
  const pidFile = path.join(workDir, `${tag}.pid`);
  await fs.promises.writeFile(procFile, JSON.stringify(proc), { mode: 0o600 });
  try {
    const argv = ociExecCommand(h, id, procFile, pidFile);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new BerthError('INTERNAL', `${h.binary} exec: ${e.message}`, { cause: e })));
      child.once('exit', (code, sig) => resolve(code ?? 128 + (sig ? (os.constants.signals[sig] ?? 9) : 9)));
    });
    const readPid = async (): Promise<number | null> => {
      for (let i = 0; i < 50; i++) {
        try {
          const n = Number.parseInt(await fs.promises.readFile(pidFile, 'utf8'), 10);
          if (Number.isInteger(n) && n > 0) return n;
        } catch {
          // not written yet
        }
        if (child.exitCode !== null || child.signalCode !== null) return null;
        await new Promise((r) => setTimeout(r, 20));
      }
      return null;
    };
    return await captureExec(
      {
        stdout: child.stdout,
        stderr: child.stderr,
        exited,
        kill: async () => {
          const pid = await readPid();
          try {
            if (pid !== null) process.kill(pid, 'SIGKILL');
            else child.kill('SIGKILL');
          } catch {
            // exited meanwhile
          }
        },
      },
      cmd,
      o,
    );
  } finally {
    await fs.promises.rm(procFile, { force: true });
    await fs.promises.rm(pidFile, { force: true });
  }
}
