/**
 * Small filesystem helpers of the content store (the crash-safe writers live in src/util/atomic-file).
 */
import * as fs from 'node:fs';
import { isErrno } from '../../runtime/errors';

export { fsyncDir, tempName, writeFileAtomic } from '../../util/atomic-file';

/** Read and JSON.parse a file; undefined when it does not exist. */
export async function readJsonFile<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
