/**
 * Cross-process locks without flock (Node has none): a lock is a directory holding an `owner` file
 * "<pid> <start time>". It is made complete under a temporary name and renamed into place; rename
 * of a directory onto an existing non-empty one fails, so taking the lock is atomic and a lock is
 * never seen without its owner. A lock whose owner process is gone (or whose pid was reused:
 * different start time) is stale and is broken by renaming it away.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../../runtime/errors';

export type Release = () => Promise<void>;

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or null when the process is gone. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? null; // fields after "(comm)" start at field 3
}

const SELF = `${process.pid} ${processStartTime(process.pid) ?? '0'}`;

/** Whether the owner recorded in `owner` ("pid starttime") is a live process. */
export function ownerAlive(owner: string): boolean {
  const [pidS, start] = owner.trim().split(' ');
  const pid = Number(pidS);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = processStartTime(pid);
  return now !== null && now === start;
}

async function breakIfStale(lockDir: string): Promise<boolean> {
  let owner: string;
  try {
    owner = await fsp.readFile(path.join(lockDir, 'owner'), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return true; // released meanwhile
    throw err;
  }
  if (ownerAlive(owner)) return false;
  const aside = `${lockDir}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await fsp.rename(lockDir, aside);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return true;
    throw err;
  }
  await fsp.rm(aside, { recursive: true, force: true });
  return true;
}

/** Tries once. Returns a release function, or null when someone else holds the lock. */
export async function tryLock(lockDir: string): Promise<Release | null> {
  const tmp = `${lockDir}.new-${process.pid}-${randomBytes(6).toString('hex')}`;
  await fsp.mkdir(tmp);
  try {
    await fsp.writeFile(path.join(tmp, 'owner'), SELF);
    let taken = false;
    for (let attempt = 0; attempt < 2 && !taken; attempt++) {
      try {
        await fsp.rename(tmp, lockDir);
        taken = true;
      } catch (err) {
        if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
        if (attempt > 0 || !(await breakIfStale(lockDir))) return null;
      }
    }
    if (!taken) return null;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    const aside = `${lockDir}.rel-${randomBytes(6).toString('hex')}`;
    await fsp.rename(lockDir, aside);
    await fsp.rm(aside, { recursive: true, force: true });
  };
}

/** Waits for the lock (polling with backoff) up to `timeoutMs`. */
export async function lock(lockDir: string, timeoutMs = 10 * 60_000): Promise<Release> {
  const deadline = Date.now() + timeoutMs;
  let wait = 10;
  for (;;) {
    const r = await tryLock(lockDir);
    if (r) return r;
    if (Date.now() > deadline) throw new BerthError('TIMEOUT', `timed out waiting for lock ${lockDir}`);
    await new Promise((res) => setTimeout(res, wait));
    wait = Math.min(wait * 2, 200);
  }
}
