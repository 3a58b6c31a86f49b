/**
 * int64/uint64 fields are decoded as decimal strings (loader option longs: String) so that nanosecond
 * timestamps and byte counts keep every digit. These helpers turn them into numbers where a number is
 * what the code needs, refusing values a double cannot hold exactly.
 */
import { ConfigError } from '../runtime/errors';

/** A decoded int64 as a safe integer; `where` names the request field for the error. */
export function int64ToNumber(value: string | number, where: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new ConfigError(where, `integer out of range: ${String(value)}`);
  return n;
}

/** A decoded int64 as a bigint (exact for the whole int64 range). */
export function int64ToBigInt(value: string | number, where: string): bigint {
  try {
    return BigInt(value);
  } catch {
    throw new ConfigError(where, `not an integer: ${String(value)}`);
  }
}

/** Nanoseconds since the Unix epoch as the decimal string CRI timestamps use. */
export function unixNanos(date: Date | number = Date.now()): string {
  const ms = typeof date === 'number' ? date : date.getTime();
  return (BigInt(Math.trunc(ms)) * 1_000_000n).toString();
}
