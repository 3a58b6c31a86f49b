/**
 * process.oomScoreAdj: written to /proc/PID/oom_score_adj. Lowering the value needs
 * CAP_SYS_RESOURCE; where that is refused, the value is clamped to the current one (the idea of
 * containerd's restrict_oom_score_adj) and a warning is logged instead of failing the container.
 */
import * as fs from 'node:fs';
import { BerthError, isErrno } from '../errors';
import type { Logger } from './logger';

export function applyOomScoreAdj(pid: number, value: number, logger: Logger): void {
  const file = `/proc/${pid}/oom_score_adj`;
  try {
    fs.writeFileSync(file, String(value));
    return;
  } catch (err) {
    if (!isErrno(err, 'EPERM') && !isErrno(err, 'EACCES')) {
      throw new BerthError('INTERNAL', `write ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  let current = NaN;
  try {
    current = Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    // Process gone: the caller notices elsewhere.
  }
  logger.warn(`oom_score_adj ${value} refused (lowering needs CAP_SYS_RESOURCE); keeping ${Number.isNaN(current) ? 'the current value' : current}`);
}
