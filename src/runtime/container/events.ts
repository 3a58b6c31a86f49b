/**
 * events: the container's cgroup statistics as runc's event documents ({type:"stats",id,data}),
 * once or every interval, and an {type:"oom",id} event whenever the cgroup's OOM-kill count rises.
 */
import { statsToRuncJson } from '../cgroups/stats';
import { BerthError } from '../errors';
import { loadContainer, type LoadedContainer } from './load';
import type { RuntimeOptions } from './options';

export interface ContainerEvent {
  type: 'stats' | 'oom';
  id: string;
  data?: Record<string, unknown>;
}

async function loadWithCgroup(opts: RuntimeOptions, id: string): Promise<LoadedContainer> {
  const c = await loadContainer(opts, id);
  if (c.status === 'stopped') throw new BerthError('FAILED_PRECONDITION', 'container not running');
  if (c.cgroup === null) throw new BerthError('UNSUPPORTED', 'events need cgroups (cgroup manager is disabled)');
  return c;
}

export async function statsEvent(opts: RuntimeOptions, id: string): Promise<ContainerEvent> {
  const c = await loadWithCgroup(opts, id);
  return { type: 'stats', id, data: statsToRuncJson(await c.cgroup!.stats()) };
}

export interface WatchOptions {
  /** Milliseconds between stats events. */
  intervalMs: number;
  /** Milliseconds between OOM-count checks. */
  oomPollMs?: number;
  /** Stops the watch. */
  signal?: AbortSignal;
}

/**
 * Emits events until the container stops or `signal` aborts. Resolves when it ends.
 */
export async function watchEvents(opts: RuntimeOptions, id: string, wo: WatchOptions, emit: (e: ContainerEvent) => void): Promise<void> {
  const first = await loadWithCgroup(opts, id);
  const cgroup = first.cgroup!;
  let ooms = await cgroup.oomKillCount().catch(() => 0);
  const oomPoll = wo.oomPollMs ?? Math.min(500, wo.intervalMs);
  let nextStats = 0;
  while (!wo.signal?.aborted) {
    let c: LoadedContainer;
    try {
      c = await loadContainer(opts, id);
    } catch {
      return; // deleted
    }
    const count = await cgroup.oomKillCount().catch(() => ooms);
    if (count > ooms) emit({ type: 'oom', id });
    ooms = count;
    if (c.status === 'stopped') return;
    const now = Date.now();
    if (now >= nextStats) {
      nextStats = now + wo.intervalMs;
      try {
        emit({ type: 'stats', id, data: statsToRuncJson(await cgroup.stats()) });
      } catch (err) {
        opts.logger.warn(`events ${id}: stats: ${(err as Error).message}`);
      }
    }
    await new Promise<void>((resolve) => {
      const onAbort = (): void => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        wo.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.min(oomPoll, Math.max(1, nextStats - Date.now())));
      wo.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
