/**
 * A per-root lock: an O_EXCL lock file holding "<pid> <start time>" of its owner. A lock whose owner
 * is gone (crashed, killed) is stale and is taken over. Held only for short critical sections
 * (claiming an id in create, releasing it in delete) so concurrent creates of different containers
 * do not serialise on each other's launch.
 */
import * as fs from 'node:fs';
import { BerthError, isErrno } from '../errors';
import { lockPath } from './paths';
import { isSameLiveProcess, readProcStat } from './procstat';

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function ownerIsGone(file: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return isErrno(err, 'ENOENT');
  }
  const [pidText, start] = text.trim().split(' ');
  const pid = Number(pidText);
  // An empty or half-written file: its owner is between open and write; give it time.
  if (!Number.isInteger(pid) || pid <= 0) {
    try {
      return Date.now() - fs.statSync(file).mtimeMs > 5000;
    } catch {
      return true;
    }
  }
  return !isSameLiveProcess(pid, start ?? '');
}

/** Run `fn` holding the lock of `root` (synchronous critical sections only). */
export function withRootLock<T>(root: string, fn: () => T, timeoutMs = 30_000): T {
  const file = lockPath(root);
  const me = `${process.pid} ${readProcStat(process.pid)?.startTime ?? ''}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw new BerthError('INTERNAL', `lock ${file}: ${(err as Error).message}`, { cause: err });
      if (ownerIsGone(file)) {
        try {
          fs.unlinkSync(file);
        } catch {
          // Someone else took it over first.
        }
        continue;
      }
      if (Date.now() > deadline) throw new BerthError('TIMEOUT', `timed out waiting for lock ${file}`);
      sleepMs(delay);
      delay = Math.min(delay * 2, 50);
      continue;
    }
    try {
      fs.writeSync(fd, me);
    } finally {
      fs.closeSync(fd);
    }
    try {
      return fn();
    } finally {
      try {
        fs.unlinkSync(file);
      } catch {
        // Already gone: nothing to release.
      }
    }
  }
}
