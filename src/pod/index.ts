/** Pod sandboxes: pinned namespaces, the pause process, CNI networking (docs/networking.md). */
export * from './namespaces';
export { startPause, stopPause, pauseAlive, defaultPausePath, type PauseProcess, type PauseOptions } from './pause';
export * from './cni/manager';
export * from './cni/types';
export { CniConfigError, CniPluginError, CNI_ERROR_CODES } from './cni/errors';
export { podIP, type PodIPs } from './cni/result';
export { defaultNetworkConfig, loopbackNetworkConfig, loadNetwork, parseNetworkConfig, DEFAULT_CONF_DIR, DEFAULT_BIN_DIRS } from './cni/config';
export { ResultCache, DEFAULT_CACHE_DIR, type CachedAttachment } from './cni/cache';
