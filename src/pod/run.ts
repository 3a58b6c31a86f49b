/**
 * Running a helper program (util-linux, iproute2, CNI plugins) and collecting what it printed. The
 * pod code does from outside, with other programs, what Node cannot do itself (DESIGN.md).
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { BerthError } from '../runtime/errors';
import { runProgram, SpawnError, spawnerAvailable } from '../util/spawner';

export interface RunOptions {
  /** Written to the program's stdin, then stdin is closed. */
  input?: string | Uint8Array;
  /** The whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds before the program is killed with SIGKILL; 0 = no limit. Default 30 s. */
  timeoutMs?: number;
}

export interface RunResult {
  /** The exit status, 128+signal when killed by a signal. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Output kept from each stream: enough for any CNI result, bounded against a runaway program. */
const MAX_OUTPUT = 4 * 1024 * 1024;

/** Run `file` with `args`; resolves with its status and output (never rejects on a non-zero status). */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (spawnerAvailable()) return runThroughSpawner(file, args, opts);
  return runWithNode(file, args, opts);
}

/** The same through berth-spawner (src/util/spawner.ts); child_process when the helper fails. */
async function runThroughSpawner(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  try {
    const r = await runProgram({
      file,
      args,
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
    return { code: r.code, stdout: r.stdout.subarray(0, MAX_OUTPUT).toString('utf8'), stderr: r.stderr.subarray(0, MAX_OUTPUT).toString('utf8'), timedOut: r.timedOut };
  } catch (e) {
    if (e instanceof SpawnError) throw new BerthError('NOT_FOUND', `cannot run ${file}: ${e.message}`, { cause: e });
    return runWithNode(file, args, opts);
  }
}

function runWithNode(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, timeoutMs)
        : undefined;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < MAX_OUTPUT) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < MAX_OUTPUT) err.push(b);
      errLen += b.length;
    });
    child.stdin.on('error', () => undefined); // EPIPE when the program does not read its stdin
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new BerthError('NOT_FOUND', `cannot run ${file}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const sig = signal !== null ? 128 + (os.constants.signals[signal] ?? 0) : 0;
      resolve({
        code: code ?? sig,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Run and throw a BerthError naming the command and its stderr when it fails. */
export async function runChecked(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? 'timed out' : `exit status ${r.code}`;
    const text = (r.stderr.trim() || r.stdout.trim()).slice(0, 2000);
    throw new BerthError('INTERNAL', `${[file, ...args].join(' ')}: ${why}${text ? `: ${text}` : ''}`);
  }
  return r;
}
