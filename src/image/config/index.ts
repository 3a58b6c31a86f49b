export * from './types';
export { parseSignal, signalName, SIGNALS } from './signal';
export { parseExposedPorts } from './ports';
export { mergeEnv, parseVolumes, resolveArgs, resolveCwd } from './process';
export { needsUserDb, parseGroup, parsePasswd, readFileInRoot, readUserDb, resolveUser, type GroupEntry, type PasswdEntry, type UserDb } from './user';
export { imageRuntimeConfig, imageRuntimeConfigFromRootfs } from './spec';
