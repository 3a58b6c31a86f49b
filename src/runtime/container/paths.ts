/** Where a container's runtime state lives: <root>/<id>/{state.json, config.json, exec.fifo}. */
import * as path from 'node:path';

export const DEFAULT_ROOT = '/run/berth-oci';

export interface ContainerPaths {
  dir: string;
  state: string;
  /** The spec as it was at create time (later edits of the bundle's config.json do not affect it). */
  config: string;
  execFifo: string;
}

export function containerPaths(root: string, id: string): ContainerPaths {
  const dir = path.join(root, id);
  return {
    dir,
    state: path.join(dir, 'state.json'),
    config: path.join(dir, 'config.json'),
    execFifo: path.join(dir, 'exec.fifo'),
  };
}

/** The per-root lock file serialising create and delete. */
export function lockPath(root: string): string {
  return path.join(root, '.lock');
}
