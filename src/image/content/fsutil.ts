/**
 * Small filesystem helpers for crash-safe state: write-temp + fsync + rename, directory fsync.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isErrno } from '../../runtime/errors';

/** fsync a directory so a rename or unlink inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    await fh.sync();
  } catch (err) {
    if (!isErrno(err, 'EINVAL') && !isErrno(err, 'ENOENT')) throw err;
  } finally {
    await fh?.close();
  }
}

export function tempName(target: string): string {
  return path.join(path.dirname(target), `.tmp-${path.basename(target)}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Write a whole file atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeFileAtomic(target: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempName(target);
  const fh = await fs.promises.open(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fs.promises.rename(tmp, target);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(target));
}

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
