/** The berth-monitor command line (native/MONITOR.md "Invocation") built from typed options. */
import { BerthError } from '../runtime/errors';

export interface MonitorOptions {
  /** The program that creates the container, e.g. ['runc', 'create', ...] or [berth-init, '3']. */
  command: string[];
  /** Where CMD (or its caller) writes the container pid; read after CMD exits 0. */
  pidFile?: string;
  /** How long the monitor waits for the pid file after CMD exited 0 (default 10000). */
  pidFileTimeoutMs?: number;
  /** CMD itself is the watched process (no pid file). */
  cmdIsContainer?: boolean;
  exitFile?: string;
  logPath?: string;
  logFormat?: 'cri' | 'plain';
  logSizeMax?: number;
  attachSocket?: string;
  ctlSocket?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  terminal?: boolean;
  /** With terminal: the monitor listens here; pass the same path to the runtime. */
  consoleSocket?: string;
  monitorPidFile?: string;
  /** The monitor's fd for readiness messages. */
  syncFd?: number;
  /** Inherited fds kept open in CMD at the same numbers (each >= 3). */
  passFds?: number[];
  /**
   * Absolute path of a program run (detached, stdio /dev/null) after the container exited and the
   * exit file was written, e.g. berth's `container cleanup ID` for restart policies.
   */
  exitCommand?: string;
  /** Its arguments (after argv[0] = exitCommand), at most 32. */
  exitCommandArgs?: string[];
}

function bad(message: string): never {
  throw new BerthError('INVALID_ARGUMENT', `monitor: ${message}`);
}

function fdNumber(what: string, n: number): string {
  if (!Number.isInteger(n) || n < 3 || n > 0x7fffffff) bad(`${what} must be an fd number >= 3, got ${n}`);
  return String(n);
}

/** The arguments after the program name. Throws INVALID_ARGUMENT for what the monitor would reject. */
export function buildMonitorArgv(o: MonitorOptions): string[] {
  if (o.command.length === 0 || o.command[0] === '') bad('an empty command');
  if ((o.pidFile === undefined) === (o.cmdIsContainer !== true)) {
    bad('exactly one of pidFile and cmdIsContainer is needed');
  }
  if ((o.terminal === true) !== (o.consoleSocket !== undefined)) bad('terminal and consoleSocket go together');
  if (o.stdinOnce === true && o.stdin !== true) bad('stdinOnce needs stdin');
  const a: string[] = [];
  const opt = (flag: string, v: string | undefined): void => {
    if (v === undefined) return;
    if (v === '' || v.includes('\0')) bad(`${flag} needs a non-empty value`);
    a.push(flag, v);
  };
  if (o.syncFd !== undefined) a.push('--sync-fd', fdNumber('syncFd', o.syncFd));
  opt('--monitor-pid-file', o.monitorPidFile);
  opt('--pid-file', o.pidFile);
  if (o.pidFileTimeoutMs !== undefined) {
    if (!Number.isInteger(o.pidFileTimeoutMs) || o.pidFileTimeoutMs < 0 || o.pidFileTimeoutMs > 3_600_000) {
      bad('pidFileTimeoutMs must be an integer in 0..3600000');
    }
    a.push('--pid-file-timeout', String(o.pidFileTimeoutMs));
  }
  if (o.cmdIsContainer === true) a.push('--cmd-is-container');
  opt('--exit-file', o.exitFile);
  opt('--log-path', o.logPath);
  if (o.logFormat !== undefined) a.push('--log-format', o.logFormat);
  if (o.logSizeMax !== undefined) {
    if (!Number.isSafeInteger(o.logSizeMax) || o.logSizeMax < 0) bad('logSizeMax must be a non-negative integer');
    a.push('--log-size-max', String(o.logSizeMax));
  }
  opt('--attach-socket', o.attachSocket);
  opt('--ctl-socket', o.ctlSocket);
  if (o.stdin === true) a.push('--stdin');
  if (o.stdinOnce === true) a.push('--stdin-once');
  if (o.terminal === true) a.push('--terminal');
  opt('--console-socket', o.consoleSocket);
  const pass = o.passFds ?? [];
  if (pass.length > 16) bad('at most 16 passFds');
  if (new Set(pass).size !== pass.length) bad('passFds has duplicates');
  for (const fd of pass) {
    if (fd === o.syncFd) bad('syncFd is also in passFds');
    a.push('--pass-fd', fdNumber('passFds', fd));
  }
  if (o.exitCommand !== undefined) {
    if (!o.exitCommand.startsWith('/')) bad('exitCommand must be an absolute path');
    opt('--exit-command', o.exitCommand);
    const ea = o.exitCommandArgs ?? [];
    if (ea.length > 32) bad('at most 32 exitCommandArgs');
    for (const x of ea) {
      if (x.includes('\0')) bad('exitCommandArgs must not contain NUL');
      a.push('--exit-command-arg', x);
    }
  } else if ((o.exitCommandArgs ?? []).length > 0) bad('exitCommandArgs needs exitCommand');
  a.push('--', ...o.command);
  return a;
}
