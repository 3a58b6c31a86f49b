/** state: the runtime-spec state document of one container, with runc's extra fields. */
import { loadContainer } from './load';
import type { RuntimeOptions } from './options';
import { userName } from './owner';
import { ociState, type StateOutput } from './state';

export async function containerState(opts: RuntimeOptions, id: string): Promise<StateOutput> {
  const c = await loadContainer(opts, id);
  const base = ociState(c.record, c.status);
  return {
    ...base,
    // runc prints the pid in every state (0 once stopped); keep the key present for its consumers.
    pid: base.pid ?? 0,
    rootfs: c.record.rootfs,
    created: c.record.created,
    owner: userName(c.record.ownerUid),
  };
}
