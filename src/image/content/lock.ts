/**
 * Cross-process exclusive locks as files created with O_EXCL.
 *
 * A lock file holds "<pid> <starttime>\n" (starttime: field 22 of /proc/<pid>/stat, so a reused pid
 * is not mistaken for the owner). A lock whose owner is gone is stale and may be broken; breaking is
 * serialised by a second O_EXCL file ("<lock>.break", itself considered stale after a few seconds),
 * so two waiters never both break a lock and delete each other's fresh lock.
 */
import * as fs from 'node:fs';
import { BerthError, isErrno } from '../../runtime/errors';
import { sleep } from './fsutil';

export interface LockOwner {
  pid: number;
  startTime: string;
}

/** starttime of a process (clock ticks since boot) or undefined if it does not exist. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); starttime is field 22.
    return fields[19];
  } catch {
    return undefined;
  }
}

let selfStart: string | undefined;
export function selfOwner(): LockOwner {
  selfStart ??= processStartTime(process.pid) ?? '0';
  return { pid: process.pid, startTime: selfStart };
}

export function formatOwner(o: LockOwner): string {
  return `${o.pid} ${o.startTime}\n`;
}

export function parseOwner(text: string): LockOwner | undefined {
  const m = /^(\d+) (\d+)\n?$/.exec(text);
  if (!m) return undefined;
  return { pid: Number(m[1]), startTime: m[2]! };
}

/** Is the process that wrote `owner` still alive (same pid and same start time)? */
export function ownerAlive(owner: LockOwner): boolean {
  const st = processStartTime(owner.pid);
  return st !== undefined && st === owner.startTime;
}

export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Poll interval while waiting for another holder (ms). */
  pollMs?: number;
  /** Give up after this long (ms); undefined waits forever. */
  timeoutMs?: number;
  /** Aborts the wait. */
  signal?: AbortSignal;
  /** Called once when the lock is found held by someone else (for progress: "waiting"). */
  onWait?: (owner: LockOwner | undefined) => void;
}

const BREAK_STALE_MS = 5000;

function tryCreate(path: string): boolean {
  try {
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    try {
      fs.writeSync(fd, formatOwner(selfOwner()));
    } finally {
      fs.closeSync(fd);
    }
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  }
}

function readOwner(path: string): LockOwner | undefined | null {
  try {
    return parseOwner(fs.readFileSync(path, 'utf8'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null; // gone
    throw err;
  }
}

/** Break `path` if its owner is dead. Returns true if the lock is now gone. */
function breakIfStale(path: string): boolean {
  const breaker = `${path}.break`;
  if (!tryCreate(breaker)) {
    try {
      const st = fs.statSync(breaker);
      if (Date.now() - st.mtimeMs > BREAK_STALE_MS) fs.rmSync(breaker, { force: true });
    } catch {
      /* raced */
    }
    return false;
  }
  try {
    const owner = readOwner(path);
    if (owner === null) return true;
    // A lock file with unparseable content is a writer that died between create and write, or
    // garbage: treat it as stale only once it is old enough that the writer cannot still be writing.
    if (owner === undefined) {
      try {
        if (Date.now() - fs.statSync(path).mtimeMs < BREAK_STALE_MS) return false;
      } catch {
        return true;
      }
    } else if (ownerAlive(owner)) {
      return false;
    }
    fs.rmSync(path, { force: true });
    return true;
  } finally {
    fs.rmSync(breaker, { force: true });
  }
}

/** Try once; returns the lock or undefined when a live owner holds it. */
export function tryAcquire(path: string): FileLock | undefined {
  if (tryCreate(path)) return makeLock(path);
  if (breakIfStale(path) && tryCreate(path)) return makeLock(path);
  return undefined;
}

function makeLock(path: string): FileLock {
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      const owner = readOwner(path);
      const me = selfOwner();
      if (owner && owner.pid === me.pid && owner.startTime === me.startTime) await fs.promises.rm(path, { force: true });
    },
  };
}

/** Wait until the lock is ours. */
export async function acquireLock(path: string, opts: AcquireOptions = {}): Promise<FileLock> {
  const poll = opts.pollMs ?? 50;
  const start = Date.now();
  let told = false;
  for (;;) {
    const l = tryAcquire(path);
    if (l) return l;
    if (!told) {
      told = true;
      opts.onWait?.(readOwner(path) ?? undefined);
    }
    if (opts.signal?.aborted) throw new BerthError('TIMEOUT', `gave up waiting for lock ${path}`, { cause: opts.signal.reason });
    if (opts.timeoutMs !== undefined && Date.now() - start > opts.timeoutMs) {
      throw new BerthError('TIMEOUT', `timed out after ${opts.timeoutMs} ms waiting for lock ${path}`);
    }
    await sleep(poll);
  }
}

/** Is the lock at `path` currently held by a live process? */
export function lockHeld(path: string): boolean {
  const owner = readOwner(path);
  if (owner === null) return false;
  if (owner === undefined) return true;
  return ownerAlive(owner);
}
