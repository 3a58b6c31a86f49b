/** Sizes ("512m", "1g", "1024") and Go-style durations ("5s", "100ms", "1m30s") as runc's flags take them. */
import { BerthError } from '../../runtime/errors';

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Bytes; "-1" stays -1 (unlimited). Binary units, as docker's RAMInBytes. */
export function parseSize(flag: string, s: string): number {
  if (s.trim() === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(s.trim());
  if (!m) throw new BerthError('INVALID_ARGUMENT', `invalid size ${JSON.stringify(s)} for --${flag}`);
  const n = Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]!;
  if (!Number.isSafeInteger(Math.floor(n))) throw new BerthError('INVALID_ARGUMENT', `size ${JSON.stringify(s)} for --${flag} is out of range`);
  return Math.floor(n);
}

/** A signed integer flag given as text (runc takes these as strings). */
export function parseIntFlag(flag: string, s: string): number {
  if (!/^-?\d+$/.test(s.trim())) throw new BerthError('INVALID_ARGUMENT', `invalid value ${JSON.stringify(s)} for --${flag}: not an integer`);
  const n = Number(s.trim());
  if (!Number.isSafeInteger(n)) throw new BerthError('INVALID_ARGUMENT', `value ${JSON.stringify(s)} for --${flag} is out of range`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds. */
export function parseDuration(flag: string, s: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    consumed += m[0].length;
  }
  if (s === '' || consumed !== s.length) throw new BerthError('INVALID_ARGUMENT', `invalid duration ${JSON.stringify(s)} for --${flag}`);
  return total;
}
