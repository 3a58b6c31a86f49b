/**
 * Small cgroupfs file helpers. Writes never create files (a missing file means a missing controller
 * or kernel feature, which must surface as UNSUPPORTED, also on fake trees in tests), use one
 * write(2) per value (cgroupfs parses each write separately), and turn errno into BerthErrors that
 * name the spec key, the value and the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, ErrorCode, isErrno } from '../errors';

const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_TRUNC;

type WriteObserver = (file: string, value: string) => void;
let observer: WriteObserver | undefined;

/**
 * Tests: see every write (file, value) in order, since a plain file on a fake tree only keeps the
 * last value. Pass undefined to stop observing.
 */
export function observeCgroupWrites(fn: WriteObserver | undefined): void {
  observer = fn;
}

function errnoOf(err: unknown): string {
  return typeof err === 'object' && err !== null ? String((err as NodeJS.ErrnoException).code ?? 'EUNKNOWN') : 'EUNKNOWN';
}

function codeForErrno(errno: string): ErrorCode {
  switch (errno) {
    case 'ENOENT':
    case 'EOPNOTSUPP':
    case 'ENOTSUP':
      return 'UNSUPPORTED';
    case 'EINVAL':
    case 'ERANGE':
    case 'EOVERFLOW':
      return 'INVALID_CONFIG';
    case 'EBUSY':
    case 'ENOSPC':
      return 'FAILED_PRECONDITION';
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'PERMISSION_DENIED';
    case 'ESRCH':
      return 'NOT_FOUND';
    default:
      return 'INTERNAL';
  }
}

/**
 * Write `value` to `dir/file` in one write(2). `key` names what asked for it (e.g. linux.resources.memory.limit).
 *
 * These helpers keep promise signatures but make synchronous syscalls: cgroupfs files are tiny and
 * kernel-backed, so open+write+close take microseconds, while each async fs call costs a thread-pool
 * round trip (three per write, ~11 hierarchies per container on v1: the bulk of create's cgroup
 * time on a loaded host; bench/oci-startup.md).
 */
export async function writeCgroupFile(dir: string, file: string, value: string, key: string): Promise<void> {
  const p = path.join(dir, file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(p, WRITE_FLAGS);
    fs.writeSync(fd, value);
    observer?.(p, value);
  } catch (err) {
    throw cgroupWriteError(err, p, value, key);
  } finally {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // nothing to do
      }
    }
  }
}

export function cgroupWriteError(err: unknown, file: string, value: string, key: string): BerthError {
  const errno = errnoOf(err);
  let code = codeForErrno(errno);
  let what = errno;
  if (errno === 'ENOENT') {
    // Only on the error path: tell a missing cgroup (not created yet, or removed) from a missing knob.
    if (fs.existsSync(path.dirname(file))) what = 'file does not exist (controller or kernel feature missing)';
    else {
      code = 'NOT_FOUND';
      what = 'the cgroup does not exist (create() not called, or destroyed)';
    }
  }
  return new BerthError(code, `cgroups: ${key}: writing ${JSON.stringify(value)} to ${file}: ${what}`, { cause: err });
}

/** mkdir one level (EEXIST is fine) or, with recursive, every missing level; errors become BerthErrors. */
export async function mkdirCgroup(dir: string, recursive = false): Promise<void> {
  try {
    fs.mkdirSync(dir, { recursive });
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return;
    const errno = errnoOf(err);
    const code = errno === 'ENOENT' ? 'NOT_FOUND' : codeForErrno(errno);
    throw new BerthError(code, `cgroups: creating ${dir}: ${errno}`, { cause: err });
  }
}

/** Read `dir/file`, trimmed. Throws a BerthError naming the file. */
export async function readCgroupFile(dir: string, file: string): Promise<string> {
  const p = path.join(dir, file);
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch (err) {
    const errno = errnoOf(err);
    throw new BerthError(codeForErrno(errno), `cgroups: reading ${p}: ${errno}`, { cause: err });
  }
}

/** Read `dir/file`, or undefined when it does not exist. */
export async function readOptional(dir: string, file: string): Promise<string | undefined> {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8').trim();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'EOPNOTSUPP') || isErrno(err, 'ENODEV')) return undefined;
    throw new BerthError('INTERNAL', `cgroups: reading ${path.join(dir, file)}: ${errnoOf(err)}`, { cause: err });
  }
}

export async function fileExists(p: string): Promise<boolean> {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Parse an unsigned counter; "max" (and values beyond 2^53) map to `max`. Empty/garbage -> 0. */
export function parseUint(s: string | undefined, max = 0): number {
  if (s === undefined) return 0;
  const t = s.trim();
  if (t === 'max') return max;
  const n = Number(t);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control) -> map. */
export function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!text) return out;
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2 || parts[0] === '') continue;
    const n = Number(parts[1]);
    if (Number.isFinite(n)) out[parts[0]] = n;
  }
  return out;
}

/** cgroup.procs text -> pids. */
export function parsePids(text: string | undefined): number[] {
  if (!text) return [];
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const n = Number.parseInt(line, 10);
    if (Number.isInteger(n) && n > 0) out.push(n);
  }
  return out;
}

/** Format an integer for a cgroup file without exponent notation; -1 (or any negative) -> `negative`. */
export function formatInt(n: number, negative: string): string {
  if (n < 0) return negative;
  return BigInt(Math.trunc(n)).toString();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Remove a cgroup directory and any child cgroups (deepest first), retrying briefly on EBUSY. */
export async function removeCgroupDir(dir: string): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw new BerthError('INTERNAL', `cgroups: reading ${dir}: ${errnoOf(err)}`, { cause: err });
  }
  for (const e of entries) if (e.isDirectory()) await removeCgroupDir(path.join(dir, e.name));
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      if ((isErrno(err, 'EBUSY') || isErrno(err, 'EAGAIN')) && attempt < 8) {
        await sleep(10 * (attempt + 1));
        continue;
      }
      if (isErrno(err, 'ENOTEMPTY')) {
        // A fake (non-cgroupfs) tree holds regular files; cgroupfs never reports ENOTEMPTY for them.
        throw new BerthError('FAILED_PRECONDITION', `cgroups: removing ${dir}: directory not empty (not a cgroup?)`, {
          cause: err,
        });
      }
      throw new BerthError(codeForErrno(errnoOf(err)), `cgroups: removing ${dir}: ${errnoOf(err)}`, { cause: err });
    }
  }
}

/** Every directory under (and including) `dir`, parents first; missing dir -> []. */
export async function walkDirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop() as string;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw new BerthError('INTERNAL', `cgroups: reading ${d}: ${errnoOf(err)}`, { cause: err });
    }
    out.push(d);
    for (const e of entries) if (e.isDirectory()) stack.push(path.join(d, e.name));
  }
  return out;
}
