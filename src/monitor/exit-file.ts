/** The monitor's exit record (native/MONITOR.md "Exit file"). */
import * as fs from 'node:fs';
import { BerthError, isErrno } from '../runtime/errors';

export interface ExitRecord {
  /** The container pid (or CMD's pid when createFailed). */
  pid: number;
  /** Exit status; 128+signal when killed. */
  exitCode: number;
  /** 'SIGKILL' etc. when killed by a signal. */
  signal: string | null;
  coreDumped: boolean;
  /** RFC3339Nano, UTC. */
  exitedAt: string;
  /** CMD (the runtime's create) failed: there was no container. */
  createFailed: boolean;
}

function bad(what: string): never {
  throw new BerthError('INTERNAL', `monitor exit file: ${what}`);
}

export function parseExitFile(text: string): ExitRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    bad('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('not an object');
  const o = v as Record<string, unknown>;
  const int = (k: string): number => {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isInteger(x)) bad(`${k} is not an integer`);
    return x;
  };
  const bool = (k: string): boolean => {
    const x = o[k];
    if (typeof x !== 'boolean') bad(`${k} is not a boolean`);
    return x;
  };
  const signal = o.signal;
  if (signal !== null && (typeof signal !== 'string' || !/^SIG[A-Z0-9+-]+$/.test(signal))) bad('bad signal');
  const exitedAt = o.exitedAt;
  if (typeof exitedAt !== 'string' || Number.isNaN(Date.parse(exitedAt))) bad('bad exitedAt');
  const rec: ExitRecord = {
    pid: int('pid'),
    exitCode: int('exitCode'),
    signal,
    coreDumped: bool('coreDumped'),
    exitedAt,
    createFailed: bool('createFailed'),
  };
  if (rec.exitCode < 0 || rec.exitCode > 255 + 128) bad('exitCode out of range');
  return rec;
}

/** The exit record, or null when the file does not exist (the container has not exited). */
export async function readExitFile(file: string): Promise<ExitRecord | null> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw new BerthError('INTERNAL', `read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseExitFile(text);
}
