/** list: every container under the root, with its derived status. */
import * as fs from 'node:fs';
import { isErrno } from '../errors';
import { isValidContainerId } from './id';
import { containerState } from './inspect';
import type { RuntimeOptions } from './options';
import type { StateOutput } from './state';

export async function listContainers(opts: RuntimeOptions): Promise<StateOutput[]> {
  let names: string[];
  try {
    names = fs.readdirSync(opts.root);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const out: StateOutput[] = [];
  for (const name of names.sort()) {
    if (!isValidContainerId(name)) continue;
    try {
      out.push(await containerState(opts, name));
    } catch {
      // Being created or deleted right now, or not a container directory: skip it.
    }
  }
  return out;
}
