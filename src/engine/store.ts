/**
 * The engine's records: <root>/engine/records/<key>.json, one per docker-style container, written with
 * the shared atomic writer (temp + fsync + rename). Lookups by id, id prefix or name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file';
import { BerthError, isErrno } from '../runtime/errors';
import type { ContainerRecord } from './types';

const KEY = /^[0-9a-f]{64}$/;

export class RecordStore {
  constructor(readonly dir: string) {}

  private file(key: string): string {
    if (!KEY.test(key)) throw new BerthError('INTERNAL', `bad record key ${JSON.stringify(key)}`);
    return path.join(this.dir, `${key}.json`);
  }

  async save(rec: ContainerRecord): Promise<void> {
    await writeFileAtomic(this.file(rec.id), JSON.stringify(rec, null, 1) + '\n', 0o600);
  }

  async remove(id: string): Promise<void> {
    await fs.promises.rm(this.file(id), { force: true });
  }

  /** Every readable record (unreadable files are reported and skipped, never deleted here). */
  loadAll(onBad?: (file: string, why: string) => void): ContainerRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const out: ContainerRecord[] = [];
    for (const n of names.sort()) {
      if (!n.endsWith('.json') || !KEY.test(n.slice(0, -5))) continue;
      const file = path.join(this.dir, n);
      try {
        const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as ContainerRecord;
        if (rec.version !== 1 || rec.id !== n.slice(0, -5)) throw new Error('not a version 1 record of this key');
        out.push(rec);
      } catch (err) {
        onBad?.(file, (err as Error).message);
      }
    }
    return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
  }
}

/**
 * Find a record by full id, name, or unique id prefix (docker's order: exact id, exact name, prefix).
 * Records still being created are not found.
 */
export function findRecord(records: readonly ContainerRecord[], ref: string): ContainerRecord | undefined {
  if (ref === '') return undefined;
  const ready = records.filter((r) => r.phase !== 'creating');
  const name = ref.startsWith('/') ? ref.slice(1) : ref;
  const byId = ready.find((r) => r.id === ref);
  if (byId) return byId;
  const byName = ready.find((r) => r.name === name);
  if (byName) return byName;
  if (!/^[0-9a-f]+$/.test(ref)) return undefined;
  const matches = ready.filter((r) => r.id.startsWith(ref));
  if (matches.length > 1) throw new BerthError('INVALID_ARGUMENT', `multiple containers match the id prefix ${JSON.stringify(ref)}: be more specific`);
  return matches[0];
}

export function requireRecord(records: readonly ContainerRecord[], ref: string): ContainerRecord {
  const r = findRecord(records, ref);
  if (!r) throw new BerthError('NOT_FOUND', `No such container: ${ref}`);
  return r;
}
