/**
 * The container lifecycle library (runc's operations as functions over a state root). Front ends
 * that care about start-up time (bin/berth-oci) import the individual files instead of this index.
 */
export type { RuntimeOptions, CgroupDriverName } from './options';
export type { Logger } from './logger';
export { nullLogger } from './logger';
export type { ContainerStatus, Operation } from './status';
export { assertCan, canDo, nextStatus } from './status';
export type { ContainerRecord, OciState, StateOutput } from './state';
export { DEFAULT_ROOT } from './paths';
export { isValidContainerId, validateContainerId } from './id';
export { parseSignal, signalName } from './signals';
export { loadContainer, type LoadedContainer } from './load';
export { createContainer, type CreateOptions, type CreatedContainer, type LaunchStdio } from './create';
export { startContainer } from './start';
export { runContainer, type RunOptions, type RunningContainer } from './run';
export { killContainer } from './kill';
export { deleteContainer } from './delete';
export { containerState } from './inspect';
export { listContainers } from './list';
export { containerPids } from './ps';
export { pauseContainer, resumeContainer } from './pause';
export { updateContainer } from './update';
export { execProcess, containerProcess, type ExecOptions, type ExecedProcess } from './exec';
export { statsEvent, watchEvents, type ContainerEvent, type WatchOptions } from './events';
export { featuresDocument, type FeaturesDocument } from './features';
