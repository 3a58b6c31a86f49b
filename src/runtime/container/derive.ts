/**
 * The status of a container, derived from the kernel where it can be: the recorded pid must be alive
 * with the same start time (else stopped), a frozen cgroup means paused, an exec fifo still present
 * means created (start removes it), anything else alive is running.
 */
import * as fs from 'node:fs';
import type { CgroupManager } from './cgroup';
import type { ContainerRecord } from './state';
import { isSameLiveProcess } from './procstat';
import type { ContainerStatus } from './status';

export async function deriveStatus(rec: ContainerRecord, execFifo: string, cgroup: CgroupManager | null): Promise<ContainerStatus> {
  if (rec.status === 'creating') {
    // Launch in progress, unless the create that wrote this record is gone: then it never completes.
    const [creatorPid, creatorStart] = rec.creator.split(' ');
    if (rec.creator !== '' && !isSameLiveProcess(Number(creatorPid), creatorStart ?? '')) return 'stopped';
    return rec.pid > 0 && !isSameLiveProcess(rec.pid, rec.pidStartTime) ? 'stopped' : 'creating';
  }
  if (rec.status === 'stopped' || !isSameLiveProcess(rec.pid, rec.pidStartTime)) return 'stopped';
  if (cgroup !== null) {
    try {
      if ((await cgroup.freezerState()) === 'frozen') return 'paused';
    } catch {
      // No freezer (cgroup gone or controller missing): not paused.
    }
  }
  return fs.existsSync(execFifo) ? 'created' : 'running';
}
