/**
 * run: create + start. Detached, it returns once the container runs. In the foreground the executor
 * stays as the container's parent; `wait` resolves with the exit status, after which the container
 * is deleted unless `keep` is set.
 */
import { createContainer, type CreateOptions, type CreatedContainer } from './create';
import { deleteContainer } from './delete';
import type { RuntimeOptions } from './options';
import { startContainer } from './start';

export interface RunOptions extends Omit<CreateOptions, 'foreground'> {
  detach?: boolean;
  /** Keep the container's state after it exits (foreground only). */
  keep?: boolean;
}

export interface RunningContainer {
  created: CreatedContainer;
  /** Foreground: the exit status (after the state is removed unless `keep`); detached: 0 at once. */
  wait(): Promise<number>;
}

export async function runContainer(opts: RuntimeOptions, ro: RunOptions): Promise<RunningContainer> {
  const t0 = performance.now();
  const phase = (what: string): void => opts.logger.debug(`run ${ro.id}: ${what} at ${(performance.now() - t0).toFixed(1)} ms`);
  const created = await createContainer(opts, { ...ro, foreground: !ro.detach });
  phase('created');
  try {
    await startContainer(opts, ro.id);
    phase('started');
  } catch (err) {
    try {
      await deleteContainer(opts, ro.id, true);
    } catch (cleanupErr) {
      opts.logger.warn(`cleaning up after failed start of ${ro.id}: ${(cleanupErr as Error).message}`);
    }
    throw err;
  }
  if (ro.detach) return { created, wait: () => Promise.resolve(0) };
  return {
    created,
    async wait(): Promise<number> {
      const code = await created.exited;
      phase(`exited ${code}`);
      if (!ro.keep) await deleteContainer(opts, ro.id, true);
      phase('deleted');
      return code;
    },
  };
}
