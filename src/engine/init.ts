/**
 * `berth run --init`: a small pid 1 in the container that forwards signals to the command and reaps
 * zombies, then exits with the command's status (docker's --init runs tini as /sbin/docker-init).
 * berth's is the pod pause program in its init mode (`berth-pause --init -- CMD...`,
 * native/pause/pause.c): static, so it runs in any image. The engine bind-mounts it read-only at
 * INIT_PATH and puts it before the container's resolved args.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';
import type { ContainerMountRequest } from '../daemon/container-request';

/** Where the init program appears inside the container (an unusual name: no image ships it). */
export const INIT_PATH = '/sbin/berth-pause';

let cached: string | undefined;

/** <repo>/native/build/berth-pause, found from this file's location (src/ or dist/src/). */
export function initBinary(): string {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'build', 'berth-pause');
    if (fs.existsSync(candidate)) return (cached = candidate);
    dir = path.dirname(dir);
  }
  throw new BerthError('NOT_FOUND', 'berth-pause (the --init program) is not built: run `npm run build:native`');
}

/** The read-only bind mount of the init program. */
export function initMount(binary: string = initBinary()): ContainerMountRequest {
  return { containerPath: INIT_PATH, hostPath: binary, readonly: true };
}

/** The process args with the init in front: [INIT_PATH, '--init', '--', ...args]. */
export function wrapWithInit(args: readonly string[]): string[] {
  if (args.length === 0) throw new BerthError('INVALID_ARGUMENT', 'no command to run under --init');
  return [INIT_PATH, '--init', '--', ...args];
}

/**
 * For a ContainerRequest built from the image's entrypoint/cmd and the run options: the request's
 * command (entrypoint) and args with the init in front. `resolved` is the full process argv the
 * container would run without --init (entrypoint + cmd after docker's rules).
 */
export function initCommand(resolved: readonly string[]): { command: string[]; args: string[] } {
  return { command: wrapWithInit(resolved), args: [] };
}

/** The args without the init, for display (ps COMMAND, inspect Path/Args). */
export function unwrapInit(args: readonly string[]): string[] {
  if (args[0] === INIT_PATH && args[1] === '--init') return args.slice(args[2] === '--' ? 3 : 2);
  return [...args];
}
