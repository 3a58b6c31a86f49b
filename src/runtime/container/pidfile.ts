/** --pid-file: the pid as decimal text, written atomically (containerd reads it as soon as it exists). */
import * as path from 'node:path';
import { writeStateFile } from './state';

export function writePidFile(file: string, pid: number): void {
  writeStateFile(path.resolve(file), String(pid), 0o644);
}
