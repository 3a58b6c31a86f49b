/** Signal names and numbers as `kill` accepts them: "KILL", "SIGKILL", "9", "sigterm". */
import * as os from 'node:os';
import { BerthError } from '../errors';

/** Parses a signal by name (with or without SIG) or number; returns its number. */
export function parseSignal(input: string | number): number {
  const table = os.constants.signals as Record<string, number>;
  if (typeof input === 'number' || /^\d+$/.test(input)) {
    const n = Number(input);
    // Real-time signals (SIGRTMIN..SIGRTMAX = 34..64) have no names in Node's table but are valid.
    if (Number.isInteger(n) && n > 0 && n <= 64) return n;
    throw new BerthError('INVALID_ARGUMENT', `invalid signal: ${input}`);
  }
  const upper = input.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rt) {
    const n = name.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
    if (n < 34 || n > 64) throw new BerthError('INVALID_ARGUMENT', `invalid signal: ${input}`);
    return n;
  }
  const n = table[name];
  if (n === undefined) throw new BerthError('INVALID_ARGUMENT', `unknown signal ${JSON.stringify(input)}`);
  return n;
}

/** The name for a signal number (SIGKILL), or the number as text when it has none. */
export function signalName(n: number): string {
  for (const [name, num] of Object.entries(os.constants.signals as Record<string, number>)) {
    if (num === n) return name;
  }
  return String(n);
}
