/** berthd's library: config, pods, images, and the wiring to the CRI server (docs/berthd.md). */
export * from './config';
export * from './daemon';
export * from './pods';
export * from './pod-store';
export * from './images';
export * from './image-identity';
export * from './filters';
export * from './sysctl';
export * from './log';
export { criImageService, criRuntimeService, runPodRequest, type RuntimeAdapterOptions } from './cri-adapter';
