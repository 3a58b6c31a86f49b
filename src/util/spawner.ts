/**
 * Running programs through berth-spawner (native/spawner/spawner.c), a small helper started once,
 * instead of child_process.spawn: Node forks itself for every spawn, which costs its one thread
 * several milliseconds in a 100 MB daemon (page tables copied, then copy-on-write faults), for
 * each mount, umount, unshare and CNI plugin berthd runs. The helper posix_spawns them.
 *
 * Off unless enabled: `enableSpawner()` (or BERTH_SPAWNER=1 in the environment; BERTH_SPAWNER=0
 * wins over both). When the helper binary is missing, cannot start or dies, callers fall back to
 * child_process (spawnerAvailable() is false). The helper holds no reference on the event loop while
 * nothing runs through it, so a short-lived process still exits on its own.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';

export interface SpawnRequest {
  file: string;
  args: readonly string[];
  /** The whole environment (default: the helper's, which is this process's at the helper's start). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed. */
  input?: string | Uint8Array;
  /** SIGKILL after this many ms (0 or absent: no limit). */
  timeoutMs?: number;
}

export interface SpawnResult {
  /** Exit status, or 128+signal when killed by a signal. */
  code: number;
  /** The signal number that killed it, or 0. */
  signal: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

/** An error starting the program (ENOENT, EACCES...): `code` is the errno name. */
export class SpawnError extends Error {
  constructor(
    readonly file: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(`spawn ${file} ${code}`);
    this.name = 'SpawnError';
  }
}

let enabled: boolean | undefined;
let helperPath: string | undefined;

/** The helper binary: native/build/berth-spawner of this package. */
export function defaultSpawnerPath(): string {
  // dist/src/util/spawner.js and src/util/spawner.ts are both three levels below the package root
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    const p = path.join(dir, 'native', 'build', 'berth-spawner');
    if (fs.existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', '..', 'native', 'build', 'berth-spawner');
}

/** Route programs through the helper from now on (when it exists). */
export function enableSpawner(binary?: string): void {
  enabled = true;
  if (binary !== undefined) helperPath = binary;
}

export function disableSpawner(): void {
  enabled = false;
  helper?.shutdown();
  helper = undefined;
}

function wanted(): boolean {
  if (process.env.BERTH_SPAWNER === '0') return false;
  return enabled === true || process.env.BERTH_SPAWNER === '1';
}

/** Whether runProgram() would go through the helper. */
export function spawnerAvailable(): boolean {
  if (!wanted() || broken) return false;
  return fs.existsSync(helperPath ?? defaultSpawnerPath());
}

let broken = false;

interface Pending {
  resolve: (r: SpawnResult) => void;
  reject: (e: Error) => void;
  file: string;
  timer?: NodeJS.Timeout;
  timedOut: boolean;
}

class Helper {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buf: Buffer = Buffer.alloc(0);
  private dead = false;

  constructor(binary: string) {
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.on('error', () => this.fail(new Error(`berth-spawner (${binary}) could not start`)));
    this.child.on('exit', () => this.fail(new Error('berth-spawner exited')));
    this.child.stdin!.on('error', () => undefined);
    this.child.stdout!.on('data', (b: Buffer) => this.onData(b));
    this.setRef(false);
  }

  /** Keep the event loop alive only while a program runs. */
  private setRef(on: boolean): void {
    const sockets = [this.child.stdin, this.child.stdout] as unknown as Array<net.Socket | null>;
    for (const s of sockets) {
      if (s === null) continue;
      if (on) s.ref();
      else s.unref();
    }
    if (on) this.child.ref();
    else this.child.unref();
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    broken = true;
    if (helper === this) helper = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  shutdown(): void {
    this.dead = true;
    this.child.stdin?.end();
  }

  run(req: SpawnRequest): Promise<SpawnResult> {
    if (this.dead) return Promise.reject(new Error('berth-spawner is gone'));
    const id = this.nextId++;
    const parts: Buffer[] = [];
    const u32 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n >>> 0);
      return b;
    };
    const i32 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      return b;
    };
    const str = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
    const argv = [req.file, ...req.args];
    if (argv.some((a) => a.includes('\0')) || (req.cwd ?? '').includes('\0')) return Promise.reject(new Error('argument contains a NUL byte'));
    parts.push(u32(1), u32(id), u32(argv.length), ...argv.map(str));
    if (req.env === undefined) {
      parts.push(i32(-1));
    } else {
      const env = Object.entries(req.env).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`);
      parts.push(i32(env.length), ...env.map(str));
    }
    parts.push(str(req.cwd ?? ''));
    const input = req.input === undefined ? Buffer.alloc(0) : typeof req.input === 'string' ? Buffer.from(req.input, 'utf8') : Buffer.from(req.input);
    parts.push(u32(input.length), input);
    const payload = Buffer.concat(parts);
    return new Promise<SpawnResult>((resolve, reject) => {
      const p: Pending = { resolve, reject, file: req.file, timedOut: false };
      if (req.timeoutMs !== undefined && req.timeoutMs > 0) {
        p.timer = setTimeout(() => {
          p.timedOut = true;
          this.send(Buffer.concat([u32(2), u32(id), i32(9)]));
        }, req.timeoutMs);
      }
      if (this.pending.size === 0) this.setRef(true);
      this.pending.set(id, p);
      this.send(payload);
    });
  }

  private send(payload: Buffer): void {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(payload.length);
    this.child.stdin!.write(Buffer.concat([len, payload]));
  }

  private onData(b: Buffer): void {
    this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < 4 + len) return;
      const f = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      const id = f.readUInt32LE(0);
      const kind = f.readInt32LE(4);
      const value = f.readInt32LE(8);
      const olen = f.readUInt32LE(12);
      const stdout = Buffer.from(f.subarray(16, 16 + olen));
      const elen = f.readUInt32LE(16 + olen);
      const stderr = Buffer.from(f.subarray(20 + olen, 20 + olen + elen));
      const p = this.pending.get(id);
      if (!p) continue;
      this.pending.delete(id);
      if (this.pending.size === 0) this.setRef(false);
      clearTimeout(p.timer);
      if (kind === 2) {
        const name = Object.entries(os.constants.errno).find(([, n]) => n === value)?.[0] ?? `errno ${value}`;
        p.reject(new SpawnError(p.file, value, name));
      } else if (kind === 1) {
        p.resolve({ code: 128 + value, signal: value, stdout, stderr, timedOut: p.timedOut });
      } else {
        p.resolve({ code: value, signal: 0, stdout, stderr, timedOut: p.timedOut });
      }
    }
  }
}

let helper: Helper | undefined;

/**
 * Runs a program through the helper. Rejects with SpawnError when it cannot start, with an Error
 * when the helper itself failed (callers may then fall back to child_process).
 */
export function runProgram(req: SpawnRequest): Promise<SpawnResult> {
  if (helper === undefined) helper = new Helper(helperPath ?? defaultSpawnerPath());
  return helper.run(req);
}
