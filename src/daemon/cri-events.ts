/**
 * GetContainerEvents, the CRI edge of events.ts: every lifecycle event of the ContainerManager and
 * its PodManager becomes a ContainerEventResponse carrying, as containerd does, the pod sandbox status
 * (absent once the pod is gone) and the statuses of every container in the pod, built once per event
 * and streamed to every subscriber until it cancels. A subscriber that does not read loses the oldest
 * events beyond MAX_QUEUED (containerd's event channel drops too).
 */
import type * as cri from '../cri/generated';
import type { RuntimeServiceImpl } from '../cri/service';
import { BerthError } from '../runtime/errors';
import type { ContainerManager } from './containers';
import { criContainerStatus } from './containers-cri';
import { podStatus } from './cri-adapter';
import type { RuntimeEvent } from './events';

export const MAX_QUEUED = 1000;

type Subscriber = (r: cri.ContainerEventResponse) => void;

async function buildResponse(mgr: ContainerManager, e: RuntimeEvent): Promise<cri.ContainerEventResponse> {
  let pod: cri.PodSandboxStatus | null = null;
  try {
    pod = podStatus(mgr.podManager().status(e.podId));
  } catch (err) {
    if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
  }
  let statuses: cri.ContainerStatus[] = [];
  if (pod !== null) statuses = (await mgr.list({ podId: e.podId })).map(criContainerStatus);
  return { container_id: e.containerId, container_event_type: e.type, created_at: e.at, pod_sandbox_status: pod, containers_statuses: statuses };
}

/** The GetContainerEvents method over a ContainerManager (and the PodManager it lives in). */
export function containerEventsRpc(mgr: ContainerManager): RuntimeServiceImpl['GetContainerEvents'] {
  const subscribers = new Set<Subscriber>();
  let chain: Promise<void> = Promise.resolve();
  let subscribed = false;
  const onEvent = (e: RuntimeEvent): void => {
    if (subscribers.size === 0) return;
    // in order, one response per event for all subscribers
    chain = chain
      .then(async () => {
        const r = await buildResponse(mgr, e);
        for (const s of [...subscribers]) s(r);
      })
      .catch(() => undefined);
  };
  const subscribeOnce = (): void => {
    if (subscribed) return;
    subscribed = true;
    mgr.events.subscribe(onEvent);
    const podEvents = mgr.podManager().events;
    if (podEvents !== mgr.events) podEvents.subscribe(onEvent);
  };
  return async (_req, sink, ctx) => {
    subscribeOnce();
    const queue: cri.ContainerEventResponse[] = [];
    let wake: (() => void) | null = null;
    const poke = (): void => {
      const w = wake;
      wake = null;
      w?.();
    };
    const push: Subscriber = (r) => {
      queue.push(r);
      if (queue.length > MAX_QUEUED) queue.shift();
      poke();
    };
    const onAbort = (): void => poke();
    ctx.signal.addEventListener('abort', onAbort);
    subscribers.add(push);
    try {
      while (!ctx.signal.aborted) {
        const next = queue.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        if (!sink.write(next)) {
          await Promise.race([sink.drained(), new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))]);
        }
      }
    } finally {
      subscribers.delete(push);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  };
}
