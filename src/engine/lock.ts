/**
 * The engine's cross-process lock (the content store's O_EXCL lock file with a live-owner check):
 * create, start, stop, rm, rename and the recovery of half-made state run under it, so one `berth`
 * process never "recovers" another's create in progress. Long-running commands (logs -f, attach,
 * wait) do not hold it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { acquireLock, type FileLock } from '../image/content/lock';

export async function withEngineLock<T>(lockPath: string, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  await fs.promises.mkdir(path.dirname(lockPath), { recursive: true, mode: 0o711 });
  const lock: FileLock = await acquireLock(lockPath, { pollMs: 50, ...(onWait ? { onWait: () => onWait() } : {}) });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
