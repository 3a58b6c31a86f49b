/** Reading /proc/PID/stat: the start time (field 22) that tells a live pid from a reused one. */
import * as fs from 'node:fs';

export interface ProcStat {
  /** Field 3: R, S, D, Z, T, ... */
  state: string;
  /** Field 22: start time in clock ticks since boot. */
  startTime: string;
}

/** null when the process does not exist. */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces or ')': split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3, so field N is rest[N - 3].
  const state = rest[0];
  const startTime = rest[22 - 3];
  if (state === undefined || startTime === undefined) return null;
  return { state, startTime };
}

/** Whether `pid` is the same live (non-zombie) process that had `startTime`. */
export function isSameLiveProcess(pid: number, startTime: string): boolean {
  if (pid <= 0) return false;
  const st = readProcStat(pid);
  if (st === null) return false;
  if (st.state === 'Z' || st.state === 'X') return false;
  return startTime === '' || st.startTime === startTime;
}
