/**
 * The CRI image operations in plain TypeScript, on the shared image service (src/image/service):
 * list, status, pull (with per-call credentials), remove (idempotent) and filesystem usage.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';
import { ImageService, type ImageServiceOptions } from '../image/service';
import { credentialsFromAuthConfig, type CriAuthConfig } from '../image/registry';
import type { ImageRecord } from '../image/content';
import { groupById, imageIdentity, type ImageIdentity } from './image-identity';
import { parseReference, repositoryName } from '../image/ref';
import type { Logger } from './log';

export interface ImageView extends ImageIdentity {
  records: ImageRecord[];
}

export interface FsUsage {
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
  /** Unix nanoseconds. */
  timestampNs: string;
}

export interface ImageManagerOptions {
  root: string;
  hostsDir: string;
  log: Logger;
}

/** Disk usage of a tree: allocated bytes and inodes, each inode counted once (hard links). */
export async function treeUsage(dir: string): Promise<{ bytes: number; inodes: number }> {
  const seen = new Set<string>();
  let bytes = 0;
  const walk = async (p: string): Promise<void> => {
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(p);
    } catch {
      return; // removed meanwhile
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    bytes += st.blocks * 512;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = await fs.promises.readdir(p);
    } catch {
      return;
    }
    for (const n of names) await walk(path.join(p, n));
  };
  await walk(dir);
  return { bytes, inodes: seen.size };
}

export class ImageManager {
  readonly service: ImageService;
  private readonly opts: ImageManagerOptions;

  constructor(opts: ImageManagerOptions) {
    this.opts = opts;
    this.service = new ImageService(this.serviceOptions());
  }

  private serviceOptions(): ImageServiceOptions {
    return { root: this.opts.root, hostsDir: this.opts.hostsDir };
  }

  private async view(records: ImageRecord[]): Promise<ImageView> {
    let user: string | undefined;
    try {
      user = (await this.service.config(records[0]!)).config?.User;
    } catch {
      user = undefined; // config blob unreadable: report no user rather than fail the listing
    }
    return { ...imageIdentity(records, user), records };
  }

  async list(filter: string): Promise<ImageView[]> {
    if (filter !== '') {
      const one = await this.status(filter);
      return one ? [one] : [];
    }
    const groups = groupById(await this.service.images.list());
    const out: ImageView[] = [];
    for (const records of groups.values()) out.push(await this.view(records));
    return out;
  }

  /**
   * ImageService.find, and also `repository@digest` of an image pulled by tag (one of its
   * repo_digests: the repository and the target digest of a record match).
   */
  async find(spec: string): Promise<Awaited<ReturnType<ImageService['find']>>> {
    try {
      return await this.service.find(spec);
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
      let repo: string;
      let digest: string | undefined;
      try {
        const ref = parseReference(spec);
        repo = repositoryName(ref);
        digest = ref.digest;
      } catch {
        throw err;
      }
      if (digest === undefined) throw err;
      const all = await this.service.images.list();
      const rec = all.find((r) => {
        try {
          return r.target.digest === digest && repositoryName(parseReference(r.name)) === repo;
        } catch {
          return false;
        }
      });
      if (!rec) throw err;
      return { byName: rec, records: all.filter((r) => r.config.digest === rec.config.digest), id: rec.config.digest };
    }
  }

  /** The image a name, digest reference or ID (or unique ID prefix) names; null when none. */
  async status(spec: string): Promise<ImageView | null> {
    if (spec === '') throw new BerthError('INVALID_ARGUMENT', 'image.image is required');
    let found: Awaited<ReturnType<ImageService['find']>>;
    try {
      found = await this.find(spec);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
    return this.view(found.records);
  }

  /** Pull and unpack; resolves to the image ID (config digest), as containerd answers. */
  async pull(reference: string, auth: CriAuthConfig | null, signal?: AbortSignal): Promise<string> {
    if (reference === '') throw new BerthError('INVALID_ARGUMENT', 'image.image is required');
    const credentials = credentialsFromAuthConfig(auth ?? undefined);
    const svc = credentials ? new ImageService({ ...this.serviceOptions(), credentials }) : this.service;
    const t0 = Date.now();
    const { record } = await svc.pull(reference, signal ? { signal } : {});
    this.opts.log.info('image pulled', { image: reference, id: record.config.digest, ms: Date.now() - t0 });
    return record.config.digest;
  }

  /** Remove every name of the image `spec` names; success when there is no such image. */
  async remove(spec: string): Promise<void> {
    if (spec === '') throw new BerthError('INVALID_ARGUMENT', 'image.image is required');
    let id: string;
    try {
      id = (await this.find(spec)).id;
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NOT_FOUND') return;
      throw err;
    }
    await this.service.remove(id, true);
    this.opts.log.info('image removed', { image: spec, id });
  }

  /** Usage of the snapshots dir and of the content store (blobs). */
  async fsInfo(): Promise<{ images: FsUsage[]; containers: FsUsage[] }> {
    const now = BigInt(Date.now()) * 1_000_000n;
    const usage = async (dir: string): Promise<FsUsage> => {
      await fs.promises.mkdir(dir, { recursive: true });
      const u = await treeUsage(dir);
      return { mountpoint: dir, usedBytes: u.bytes, inodesUsed: u.inodes, timestampNs: now.toString() };
    };
    const snaps = await usage(path.join(this.service.root, 'snapshots'));
    const content = await usage(path.join(this.service.root, 'blobs'));
    return { images: [snaps, content], containers: [snaps] };
  }
}
