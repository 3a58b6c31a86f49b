/** kill: send a signal to the container's init process, or with `all` to every process in its cgroup. */
import { BerthError } from '../errors';
import { loadContainer } from './load';
import type { RuntimeOptions } from './options';
import { parseSignal } from './signals';
import { assertCan } from './status';

const SIGKILL = 9;

export async function killContainer(opts: RuntimeOptions, id: string, signal: string | number, all = false): Promise<void> {
  const sig = parseSignal(signal);
  const c = await loadContainer(opts, id);
  assertCan('kill', c.status);
  if (all) {
    if (c.cgroup === null) throw new BerthError('UNSUPPORTED', 'kill --all needs cgroups (cgroup manager is disabled)');
    await c.cgroup.killAll(sig);
  } else {
    try {
      process.kill(c.record.pid, sig);
    } catch (err) {
      throw new BerthError('FAILED_PRECONDITION', `container not running: ${(err as Error).message}`, { cause: err });
    }
  }
  // Frozen tasks cannot act on SIGKILL until thawed.
  if (sig === SIGKILL && c.status === 'paused' && c.cgroup !== null) await c.cgroup.thaw();
}
