/**
 * start: release a created container (take the byte from its exec fifo, remove the fifo), then
 * run the poststart hooks (their failures are logged only, as the spec says).
 */
import * as fs from 'node:fs';
import { runHooks } from '../hooks/run';
import { readExecFifo } from './fifo';
import { loadContainer } from './load';
import type { RuntimeOptions } from './options';
import { isSameLiveProcess } from './procstat';
import { readSavedSpec } from './spec-file';
import { ociState } from './state';
import { assertCan } from './status';

export async function startContainer(opts: RuntimeOptions, id: string): Promise<void> {
  const c = await loadContainer(opts, id);
  assertCan('start', c.status);
  const { record, paths } = c;
  await readExecFifo(paths.execFifo, () => isSameLiveProcess(record.pid, record.pidStartTime));
  try {
    fs.unlinkSync(paths.execFifo);
  } catch {
    // Already removed by a concurrent start: that one failed to read the byte, we did.
  }
  // No record write: with the fifo gone the status derives as running (saves an fsync on the hot path).
  const spec = readSavedSpec(paths.config);
  if (spec.hooks?.poststart?.length) {
    await runHooks('poststart', spec.hooks.poststart, JSON.stringify(ociState(record, 'running')), opts.logger);
  }
}
