/**
 * Tearing a container down: kill everything it runs, wait for the init process to go, remove its
 * cgroup and its state directory. Used by delete and by a failed create.
 */
import * as fs from 'node:fs';
import type { CgroupManager } from './cgroup';
import type { Logger } from './logger';
import { isSameLiveProcess } from './procstat';
import { withRootLock } from './lock';

const SIGKILL = 9;

/** Polls until `pid` (with `startTime`) is gone or `timeoutMs` passes; true when gone. */
export async function waitGone(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  while (isSameLiveProcess(pid, startTime)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 20);
  }
  return true;
}

export interface TeardownTarget {
  pid: number;
  pidStartTime: string;
  cgroup: CgroupManager | null;
  /** The container was paused: thaw after SIGKILL so the frozen tasks can die. */
  paused: boolean;
  /**
   * Processes may remain in the cgroup: false only when the init process of a container with its own
   * pid namespace is gone (the kernel then killed everything in the namespace).
   */
  mayHaveProcesses: boolean;
  root: string;
  stateDir: string;
}

/** Kill, wait, destroy cgroup, remove state. Errors other than the cgroup removal are logged. */
export async function teardown(t: TeardownTarget, logger: Logger): Promise<void> {
  if (t.pid > 0 && isSameLiveProcess(t.pid, t.pidStartTime)) {
    try {
      process.kill(t.pid, SIGKILL);
    } catch {
      // Already gone.
    }
  }
  if (t.cgroup !== null && t.mayHaveProcesses) {
    try {
      if (await t.cgroup.exists()) {
        await t.cgroup.killAll(SIGKILL);
        if (t.paused) await t.cgroup.thaw();
      }
    } catch (err) {
      logger.warn(`killing the container's processes: ${(err as Error).message}`);
    }
  }
  if (t.pid > 0 && !(await waitGone(t.pid, t.pidStartTime, 10_000))) {
    logger.warn(`process ${t.pid} did not exit after SIGKILL`);
  }
  if (t.cgroup !== null) await t.cgroup.destroy();
  withRootLock(t.root, () => fs.rmSync(t.stateDir, { recursive: true, force: true }));
}
