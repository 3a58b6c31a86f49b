/**
 * Lifecycle events of pods and containers, in plain TypeScript: ContainerManager and PodManager emit
 * them, front ends subscribe (berthd's CRI edge streams them as GetContainerEvents; the `berth` CLI
 * may use them too). Like containerd's CRI plugin, a pod sandbox reports its own lifecycle as events
 * whose containerId is the pod id: created and started on run, stopped on stop, deleted on remove.
 * A container reports created, started, stopped (when its exit is noticed, also one that exits on its
 * own) and deleted.
 */
import { unixNanos } from '../cri/int64';

export type RuntimeEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

export interface RuntimeEvent {
  type: RuntimeEventType;
  /** The container's id, or the pod's for a pod sandbox event. */
  containerId: string;
  podId: string;
  /** True for the events of a pod sandbox itself. */
  sandbox: boolean;
  /** Unix nanoseconds, decimal. */
  at: string;
}

export type RuntimeEventListener = (event: RuntimeEvent) => void;

/** A synchronous fan-out to listeners; a throwing listener never affects the others or the emitter. */
export class RuntimeEvents {
  private readonly listeners = new Set<RuntimeEventListener>();
  private readonly onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = () => undefined) {
    this.onError = onError;
  }

  /** Subscribe; returns the unsubscribe function. */
  subscribe(fn: RuntimeEventListener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  emit(type: RuntimeEventType, containerId: string, podId: string, sandbox = false): RuntimeEvent {
    const event: RuntimeEvent = { type, containerId, podId, sandbox, at: unixNanos() };
    for (const fn of [...this.listeners]) {
      try {
        fn(event);
      } catch (err) {
        this.onError(err);
      }
    }
    return event;
  }
}
