/**
 * `--filter key=value` (repeatable), as docker's listing commands take it. Values for one key are
 * OR-ed, different keys AND-ed (docker's rule). Unknown keys are an error naming the known ones.
 */
import { BerthError } from '../../runtime/errors';

export type Filters = Map<string, string[]>;

export function parseFilters(values: readonly string[], known: readonly string[]): Filters {
  const out: Filters = new Map();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `bad format of filter ${JSON.stringify(v)} (expected name=value)`);
    const key = v.slice(0, eq).trim().toLowerCase();
    if (!known.includes(key)) throw new BerthError('INVALID_ARGUMENT', `invalid filter ${JSON.stringify(key)} (supported: ${known.join(', ')})`);
    out.set(key, [...(out.get(key) ?? []), v.slice(eq + 1)]);
  }
  return out;
}

/** A boolean filter value ("true"/"false", also "1"/"0"). */
export function filterBool(key: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new BerthError('INVALID_ARGUMENT', `invalid filter '${key}=${value}': want true or false`);
}
