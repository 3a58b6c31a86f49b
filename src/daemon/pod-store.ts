/**
 * Pod sandbox metadata, persisted one file per pod: <root>/pods/<id>/meta.json, written temp + fsync
 * + rename (so a crash leaves the old or the new record, never a torn one). Plain TypeScript types:
 * nothing here knows protobuf.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file';
import type { PortMapping } from '../pod';
import { loadRecordDir } from '../util/record-dir';

/** CRI NamespaceMode, by name. */
export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface PodMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PodDns {
  servers: string[];
  searches: string[];
  options: string[];
}

/**
 * 'creating': RunPodSandbox under way (a crash leaves it so: cleaned up at start);
 * 'ready': running; 'stopped': StopPodSandbox done (network and namespaces released).
 */
export type PodPhase = 'creating' | 'ready' | 'stopped';

export interface PodRecord {
  version: 1;
  id: string;
  phase: PodPhase;
  metadata: PodMetadata;
  /** Unix nanoseconds, decimal. */
  createdAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
  hostname: string;
  logDirectory: string;
  namespaceOptions: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode; targetId: string };
  dns: PodDns | null;
  portMappings: PortMapping[];
  sysctls: Record<string, string>;
  cgroupParent: string;
  /** Namespace files (null: the host's); the pause process for a shared PID namespace. */
  netns: string | null;
  ipcns: string | null;
  utsns: string | null;
  pause: { pid: number; startTime: string; pidnsPath: string } | null;
  /** Files containers bind-mount. */
  resolvConf: string;
  hostsFile: string;
  hostnameFile: string;
  /** Pod IPs from CNI: first is CRI's ip, the rest additional_ips. */
  ips: string[];
  /** CNI network name the pod joined ('' for host network). */
  network: string;
}

const ID = /^[0-9a-f]{64}$/;

export class PodStore {
  readonly dir: string;
  constructor(root: string) {
    this.dir = path.join(root, 'pods');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o711 });
  }

  podDir(id: string): string {
    if (!ID.test(id)) throw new Error(`invalid pod id ${JSON.stringify(id)}`);
    return path.join(this.dir, id);
  }

  async save(rec: PodRecord): Promise<void> {
    await fs.promises.mkdir(this.podDir(rec.id), { recursive: true, mode: 0o711 });
    await writeFileAtomic(path.join(this.podDir(rec.id), 'meta.json'), JSON.stringify(rec, null, 1), 0o600);
  }

  /** Every readable record; unreadable ones are reported through `onBad` and skipped. */
  loadAll(onBad: (id: string, why: string) => void = () => undefined): PodRecord[] {
    return loadRecordDir<PodRecord>(
      this.dir,
      ID,
      (r, id) => {
        if (r.version !== 1 || r.id !== id) throw new Error('not a version 1 record of this pod');
      },
      onBad,
    );
  }

  /** Remove the pod's directory (meta.json, resolv.conf, hosts, ...). Idempotent. */
  async remove(id: string): Promise<void> {
    await fs.promises.rm(this.podDir(id), { recursive: true, force: true });
  }

  /** Ids of directories present (including ones with no readable record). */
  ids(): string[] {
    return fs.readdirSync(this.dir).filter((n) => ID.test(n));
  }
}
