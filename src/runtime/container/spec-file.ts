/** The container's own copy of its spec, saved at create time (exec and hooks use it, not the bundle). */
import * as fs from 'node:fs';
import { BerthError } from '../errors';
import type { Spec } from '../spec/types';
import { writeStateFile } from './state';

/** Runtime state: written without fsync, like the record (state.ts explains why). */
export function saveSpec(file: string, spec: Spec): Promise<void> {
  return new Promise<void>((resolve) => {
    writeStateFile(file, JSON.stringify(spec));
    resolve();
  });
}

export function readSavedSpec(file: string): Spec {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Spec;
  } catch (err) {
    throw new BerthError('INTERNAL', `reading saved config ${file}: ${(err as Error).message}`, { cause: err });
  }
}
