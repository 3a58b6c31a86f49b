/**
 * The CLI's logger: --log FILE in --log-format text (logrus-like `time=".." level=.. msg=".."`) or
 * json (`{"level":..,"msg":..,"time":..}`, what containerd parses). Without --log, warnings and
 * errors go to stderr. Debug lines are written only with --debug.
 */
import * as fs from 'node:fs';
import type { Logger } from '../../runtime/container/logger';

export type LogFormat = 'text' | 'json';
type Level = 'debug' | 'info' | 'warning' | 'error';

export class CliLogger implements Logger {
  private fd: number | null = null;
  constructor(
    private readonly file: string | undefined,
    private readonly format: LogFormat,
    private readonly debugEnabled: boolean,
  ) {}

  private line(level: Level, msg: string): string {
    const time = new Date().toISOString();
    if (this.format === 'json') return `${JSON.stringify({ level, msg, time })}\n`;
    return `time=${JSON.stringify(time)} level=${level} msg=${JSON.stringify(msg)}\n`;
  }

  private write(level: Level, msg: string): void {
    if (level === 'debug' && !this.debugEnabled) return;
    const text = this.line(level, msg);
    if (this.file === undefined || this.file === '') {
      if (level !== 'info' || this.debugEnabled) process.stderr.write(text);
      return;
    }
    try {
      if (this.fd === null) this.fd = fs.openSync(this.file, 'a', 0o644);
      fs.writeSync(this.fd, text);
    } catch {
      process.stderr.write(text);
    }
  }

  debug(m: string): void {
    this.write('debug', m);
  }
  info(m: string): void {
    this.write('info', m);
  }
  warn(m: string): void {
    this.write('warning', m);
  }
  error(m: string): void {
    this.write('error', m);
  }
  /** Whether log lines go to a file (then a fatal error is also printed plainly on stderr). */
  get toFile(): boolean {
    return this.file !== undefined && this.file !== '';
  }
}
