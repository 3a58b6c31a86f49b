/**
 * Waiting for a container's end without a fixed polling period: the monitor writes the exit file
 * (rename into place) as soon as the container exits, and exits itself right after. A fixed 50 ms
 * poll makes every StopContainer last at least one period (and a 20 ms one adds up to 20 ms to
 * RemoveContainer); these waits react within about a millisecond instead:
 *  - waitExitFile: an inotify watch (fs.watch) on the exit file's directory, plus a back-off poll of
 *    `done()` (1 ms doubling to `maxPollMs`) for what a watch cannot see (a pid that vanished without
 *    an exit file, a directory that does not exist yet);
 *  - waitGone: back-off polling of a predicate (for a process to exit or become a zombie).
 * Both resolve true when the condition holds, false at the timeout; they never throw.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface WaitOptions {
  /** Longest pause between two checks (default 20 ms). */
  maxPollMs?: number;
  /** First pause (default 1 ms); doubles after each check. */
  firstPollMs?: number;
}

/**
 * Resolves true once `check()` holds, false after `timeoutMs`. Checks at once, then after 1, 2, 4,
 * ... ms (at most maxPollMs apart), and whenever `wake` is called.
 */
export async function waitFor(check: () => boolean, timeoutMs: number, opts: WaitOptions = {}, onWaker?: (wake: () => void) => void): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  const maxPoll = opts.maxPollMs ?? 20;
  let pause = Math.max(0.5, opts.firstPollMs ?? 1);
  let wakeNow: (() => void) | null = null;
  onWaker?.(() => wakeNow?.());
  for (;;) {
    if (check()) return true;
    const left = end - Date.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wakeNow = null;
        resolve();
      }, Math.min(pause, left));
      wakeNow = () => {
        clearTimeout(t);
        wakeNow = null;
        resolve();
      };
    });
    pause = Math.min(maxPoll, pause * 2);
  }
}

/**
 * Waits until `exitFile` exists or `gone()` says the process ended some other way. Watches the
 * file's directory (one inotify watch, closed before returning) and polls with back-off.
 */
export async function waitExitFile(exitFile: string, gone: () => boolean, timeoutMs: number, opts: WaitOptions = {}): Promise<boolean> {
  const check = (): boolean => fs.existsSync(exitFile) || gone();
  if (check()) return true;
  let watcher: fs.FSWatcher | undefined;
  try {
    return await waitFor(check, timeoutMs, opts, (wake) => {
      try {
        const base = path.basename(exitFile);
        watcher = fs.watch(path.dirname(exitFile), { persistent: false }, (_ev, name) => {
          if (name === null || name === base || String(name).startsWith(`${base}`)) wake();
        });
        watcher.on('error', () => undefined);
      } catch {
        // no directory (yet) or no inotify: polling alone
      }
    });
  } finally {
    watcher?.close();
  }
}

/** Waits until `gone()` holds (back-off polling). */
export function waitGone(gone: () => boolean, timeoutMs: number, opts: WaitOptions = {}): Promise<boolean> {
  return waitFor(gone, timeoutMs, opts);
}

/** True when `pid` no longer exists or is a zombie (exited, not yet reaped). */
export function processEnded(pid: number): boolean {
  if (!(pid > 0)) return true;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

