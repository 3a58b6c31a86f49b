/**
 * Directories of records, one `<dir>/<id>/meta.json` per id (berthd's pods and containers): load every
 * readable one, reporting the rest, so a damaged record never hides the others.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isErrno } from '../runtime/errors';

/**
 * The records under `dir` whose names match `idPattern`, in name order. `check` throws when a parsed
 * record is not a valid one for that id; unreadable and invalid records go to `onBad` and are skipped.
 */
export function loadRecordDir<T>(dir: string, idPattern: RegExp, check: (rec: T, id: string) => void, onBad: (id: string, why: string) => void): T[] {
  const out: T[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (!idPattern.test(name)) continue;
    let text: string;
    try {
      text = fs.readFileSync(path.join(dir, name, 'meta.json'), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        onBad(name, 'no meta.json');
        continue;
      }
      throw err;
    }
    try {
      const rec = JSON.parse(text) as T;
      check(rec, name);
      out.push(rec);
    } catch (err) {
      onBad(name, (err as Error).message);
    }
  }
  return out;
}
