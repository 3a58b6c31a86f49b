/**
 * The container lifecycle as an explicit state machine (runtime-spec "creating", "created",
 * "running", "stopped", plus "paused" as runc reports it), and the guards every operation checks.
 */
import { BerthError } from '../errors';

export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export type Operation = 'start' | 'kill' | 'delete' | 'forceDelete' | 'pause' | 'resume' | 'exec' | 'update' | 'ps' | 'events';

/** Which statuses each operation accepts. */
const ALLOWED: Record<Operation, readonly ContainerStatus[]> = {
  start: ['created'],
  kill: ['created', 'running', 'paused'],
  // The spec: deleting a container that is not stopped MUST fail (runc also takes created ones; --force does).
  delete: ['stopped'],
  forceDelete: ['creating', 'created', 'running', 'paused', 'stopped'],
  pause: ['running', 'created'],
  resume: ['paused'],
  exec: ['created', 'running'],
  update: ['created', 'running', 'paused', 'stopped'],
  ps: ['created', 'running', 'paused', 'stopped'],
  events: ['created', 'running', 'paused'],
};

/** The transitions an operation causes when it succeeds. */
const TRANSITIONS: Partial<Record<Operation, ContainerStatus>> = {
  start: 'running',
  pause: 'paused',
  resume: 'running',
};

export function canDo(op: Operation, status: ContainerStatus): boolean {
  return ALLOWED[op].includes(status);
}

/** The status after `op` succeeds from `status` (unchanged for operations that do not move it). */
export function nextStatus(op: Operation, status: ContainerStatus): ContainerStatus {
  return TRANSITIONS[op] ?? status;
}

function describe(op: Operation, status: ContainerStatus): string {
  switch (op) {
    case 'start':
      return status === 'running' || status === 'paused'
        ? 'cannot start an already running container'
        : `cannot start a container in the ${status} state`;
    case 'kill':
      return 'container not running';
    case 'delete':
      return `cannot delete container that is not stopped: ${status}`;
    case 'pause':
      return status === 'paused' ? 'container already paused' : 'container not running';
    case 'resume':
      return 'container not paused';
    case 'exec':
      return `cannot exec in a ${status} container`;
    default:
      return `cannot ${op} a container in the ${status} state`;
  }
}

/** Throws FAILED_PRECONDITION unless `op` is allowed in `status`. */
export function assertCan(op: Operation, status: ContainerStatus): void {
  if (!canDo(op, status)) throw new BerthError('FAILED_PRECONDITION', describe(op, status));
}
