/**
 * delete: remove a stopped (or never started) container: its processes, cgroup and state, then run
 * the poststop hooks (failures logged). With `force` a running or paused container is killed first.
 */
import * as fs from 'node:fs';
import { BerthError } from '../errors';
import { runHooks } from '../hooks/run';
import { validateContainerId } from './id';
import { loadContainer } from './load';
import { withRootLock } from './lock';
import type { RuntimeOptions } from './options';
import { containerPaths } from './paths';
import { readSavedSpec } from './spec-file';
import { ociState } from './state';
import { assertCan } from './status';
import { teardown } from './teardown';
import type { Spec } from '../spec/types';

export async function deleteContainer(opts: RuntimeOptions, id: string, force = false): Promise<void> {
  validateContainerId(id);
  let c;
  try {
    c = await loadContainer(opts, id);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'NOT_FOUND') {
      // A create that died before writing its state can leave a directory without state.json.
      const dir = containerPaths(opts.root, id).dir;
      const existed = fs.existsSync(dir);
      if (existed) withRootLock(opts.root, () => fs.rmSync(dir, { recursive: true, force: true }));
      if (force || existed) return;
    }
    throw err;
  }
  if (!force) assertCan('delete', c.status);
  let spec: Spec | null = null;
  try {
    spec = readSavedSpec(c.paths.config);
  } catch (err) {
    opts.logger.warn(`delete ${id}: ${(err as Error).message}; poststop hooks skipped`);
  }
  await teardown(
    {
      // A live pid with the recorded start time is killed whatever the status says (an abandoned create).
      pid: c.record.pid,
      pidStartTime: c.record.pidStartTime,
      cgroup: c.cgroup,
      paused: c.status === 'paused',
      mayHaveProcesses: c.status !== 'stopped' || !c.record.ownPidNamespace || c.record.status === 'creating',
      root: opts.root,
      stateDir: c.paths.dir,
    },
    opts.logger,
  );
  if (spec?.hooks?.poststop?.length) {
    await runHooks('poststop', spec.hooks.poststop, JSON.stringify(ociState(c.record, 'stopped')), opts.logger);
  }
}
