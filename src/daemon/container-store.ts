/**
 * CRI container metadata, one file per container: <root>/containers/<id>/meta.json, written temp +
 * fsync + rename (a crash leaves the old or the new record). Plain TypeScript types.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file';
import { loadRecordDir } from '../util/record-dir';

/**
 * 'creating': CreateContainer under way (a crash leaves it so: undone at start); 'created': the
 * container process waits on its exec fifo; 'started': StartContainer released it.
 */
export type ContainerPhase = 'creating' | 'created' | 'started';

export interface ContainerMountView {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  propagation: string;
}

export interface ContainerMeta {
  version: 1;
  id: string;
  podId: string;
  phase: ContainerPhase;
  metadata: { name: string; attempt: number };
  /** The image as the request named it; its ID (config digest); image_ref for ContainerStatus. */
  image: string;
  imageId: string;
  imageRef: string;
  /** Unix nanoseconds, decimal ('0' = not yet). */
  createdAt: string;
  startedAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Absolute CRI log path ('' = none). */
  logPath: string;
  mounts: ContainerMountView[];
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  /** Host pid of the container process, its /proc start time, the monitor's pid. */
  pid: number;
  pidStartTime: string;
  monitorPid: number;
  stopSignal: number;
  snapshotKey: string;
  rootfs: string;
  cgroupsPath: string;
  runtimeHandler: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  /** Set once the exit has been looked at (OOM from the cgroup is gone after removal). */
  oomKilled?: boolean;
}

const ID = /^[0-9a-f]{64}$/;

export class ContainerStore {
  readonly dir: string;
  constructor(root: string) {
    this.dir = path.join(root, 'containers');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o711 });
  }

  containerDir(id: string): string {
    if (!ID.test(id)) throw new Error(`invalid container id ${JSON.stringify(id)}`);
    return path.join(this.dir, id);
  }

  async save(m: ContainerMeta): Promise<void> {
    await fs.promises.mkdir(this.containerDir(m.id), { recursive: true, mode: 0o711 });
    await writeFileAtomic(path.join(this.containerDir(m.id), 'meta.json'), JSON.stringify(m, null, 1), 0o600);
  }

  loadAll(onBad: (id: string, why: string) => void = () => undefined): ContainerMeta[] {
    return loadRecordDir<ContainerMeta>(
      this.dir,
      ID,
      (r, id) => {
        if (r.version !== 1 || r.id !== id) throw new Error('not a version 1 record of this container');
      },
      onBad,
    );
  }

  async remove(id: string): Promise<void> {
    await fs.promises.rm(this.containerDir(id), { recursive: true, force: true });
  }

  ids(): string[] {
    return fs.readdirSync(this.dir).filter((n) => ID.test(n));
  }
}
