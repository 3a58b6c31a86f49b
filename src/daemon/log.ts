/** berthd's log: one JSON object per line on stderr ({time, level, msg, ...fields}). */
import type { LogLevel } from './config';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const log = (at: LogLevel, msg: string, fields: LogFields = {}): void => {
    if (RANK[at] < RANK[logger.level]) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level: at, msg };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) rec[k] = v;
    write(JSON.stringify(rec) + '\n');
  };
  const logger: Logger = {
    level,
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
  return logger;
}

/** A logger that drops everything (tests). */
export function silentLogger(): Logger {
  return createLogger('error', () => undefined);
}
