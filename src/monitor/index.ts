/** berth-monitor's TypeScript client (native/MONITOR.md). */
export { buildMonitorArgv, type MonitorOptions } from './args';
export { attach, queryStatus, reopenLog, type AttachHandle, type AttachOptions, type MonitorStatus } from './attach';
export {
  CriLogAssembler,
  parseCriLog,
  parseCriLogLine,
  parseRfc3339Nano,
  type CriLogLine,
  type LogEntry,
  type LogStream,
} from './cri-log';
export { parseExitFile, readExitFile, type ExitRecord } from './exit-file';
export {
  MonitorError,
  defaultMonitorPath,
  spawnMonitor,
  startMonitor,
  type PassFd,
  type SpawnMonitorOptions,
  type SpawnedMonitor,
} from './start';
