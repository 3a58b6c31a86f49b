/**
 * ExecSync for berthd: runs a command in a running container through the lifecycle library's exec
 * (the executor joins the container's namespaces and cgroup, foreground), with stdout and stderr
 * captured through pipes (each capped), the container's own process (env, user, cwd, capabilities,
 * ...) as the defaults, no terminal, and a timeout after which the exec'd process is killed.
 */
import type { Readable } from 'node:stream';
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

export async function execSync(runtime: RuntimeOptions, id: string, cmd: readonly string[], o: ExecSyncOptions): Promise<ExecSyncResult> {
  const proc = execSyncProcess(await containerProcess(runtime, id), cmd);
  const budget: OutputBudget = { left: o.limit ?? EXEC_OUTPUT_LIMIT };
  let ex: Awaited<ReturnType<typeof execProcess>>;
  try {
    ex = await execProcess(runtime, { id, process: proc, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // the container exists (checked by the caller): a missing binary is not a missing container
    if (e instanceof BerthError && e.code === 'NOT_FOUND') throw new BerthError('INTERNAL', `exec failed: ${e.message}`, { cause: e });
    throw e;
  }
  const out = new CappedSink(budget);
  const err = new CappedSink(budget);
  const drained = Promise.all([drain(ex.executor.stdout, out), drain(ex.executor.stderr, err)]);
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
    const first = await Promise.race([ex.exited, timeout.then(() => null)]);
    if (first === null) {
      try {
        process.kill(ex.pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
      await ex.exited;
      throw new BerthError('TIMEOUT', `command ${JSON.stringify(cmd)} timed out after ${o.timeoutSec}s`);
    }
    code = first;
  } finally {
    if (timer) clearTimeout(timer);
    if (timedOut) {
      ex.executor.stdout?.destroy();
      ex.executor.stderr?.destroy();
    }
  }
  // output written just before exit is still in the pipes; background children may keep them open
  let graceTimer: NodeJS.Timeout | undefined;
  await Promise.race([drained, new Promise<void>((r) => (graceTimer = setTimeout(r, o.drainMs ?? 2000)))]);
  if (graceTimer) clearTimeout(graceTimer);
  ex.executor.stdout?.destroy();
  ex.executor.stderr?.destroy();
  return { exitCode: code, stdout: out.bytes(), stderr: err.bytes() };
}
