/**
 * The engine as the `berth` CLI opens it: store paths from the global options, named volumes
 * (volumes.ts), --init (init.ts), the events journal (events.ts), and berthd's stores to list
 * read-only. One place, so every command gets the same wiring.
 */
import { Engine, type EngineOptions } from './engine';
import { recordEvent } from './events';
import { exitCommandFor } from './restart';
import { INIT_PATH, initBinary, wrapWithInit } from './init';
import { enginePaths } from './paths';
import { RecordStore } from './store';
import { listBerthd } from './berthd';
import { VolumeStore, resolveVolume } from './volumes';
import type { ImageService } from '../image/service';

export interface OpenEngineOptions {
  root: string;
  runRoot: string;
  hostsDir: string;
  debug?: boolean;
  images?: ImageService;
  /** Tests: other monitor/init binaries, a fake network. */
  extra?: Partial<EngineOptions>;
}

export function volumeStore(root: string, runRoot: string): VolumeStore {
  const p = enginePaths(root, runRoot);
  return new VolumeStore(p.volumes, p.records);
}

export function openEngine(o: OpenEngineOptions): Engine {
  const p = enginePaths(o.root, o.runRoot);
  const volumes = new VolumeStore(p.volumes, p.records);
  return new Engine({
    root: o.root,
    runRoot: o.runRoot,
    hostsDir: o.hostsDir,
    ...(o.debug !== undefined ? { debug: o.debug } : {}),
    ...(o.images ? { images: o.images } : {}),
    volumes: {
      resolve: (m) => resolveVolume(volumes, m.source),
      populate: async (v, rootfs, target) => {
        await volumes.populate(v.name, rootfs, target);
      },
      removeVolumes: async (names) => {
        for (const n of names) {
          try {
            await volumes.remove(n);
          } catch {
            // in use by another container, or gone: kept / nothing to do
          }
        }
      },
    },
    init: () => ({ hostPath: initBinary(), containerPath: INIT_PATH, wrap: (argv) => wrapWithInit(argv) }),
    // restart policies and --rm: the monitor runs `berth container cleanup ID` after each exit (restart.ts)
    monitorExitCommand: (containerId) => exitCommandFor({ root: o.root, runRoot: o.runRoot, containerId }),
    onEvent: (e) => {
      recordEvent(p.events, { action: e.action, id: e.id, attributes: { name: e.name, image: e.image, ...(e.attributes ?? {}) } });
    },
    ...(o.extra ?? {}),
  });
}

/**
 * ImageService.imageUsers for the CLI (rmi, image prune -a): the engine's containers and berthd's
 * under the same root use the image.
 */
export function imageUsersHook(root: string, runRoot: string): (imageId: string) => Promise<string[]> {
  const p = enginePaths(root, runRoot);
  return async (imageId) => {
    const ours = new RecordStore(p.records).loadAll().filter((r) => r.imageId === imageId).map((r) => r.name);
    const theirs = (await listBerthd({ root, runRoot })).filter((c) => c.imageId === imageId).map((c) => `${c.name} (cri)`);
    return [...ours, ...theirs];
  };
}
