/**
 * Image metadata: name -> target descriptor (plus what was resolved for this host's platform).
 * One file per image under <root>/images/<sha256(name)>.json, each written temp + fsync + rename.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { BerthError, isErrno } from '../../runtime/errors';
import type { Descriptor, Platform } from '../manifest/types';
import { readJsonFile, writeFileAtomic } from './fsutil';

export interface ImageRecord {
  /** Canonical reference: "docker.io/library/busybox:latest" or "host/repo@sha256:..." */
  name: string;
  /** What the name points at: an index / manifest list or a manifest. */
  target: Descriptor;
  /** The manifest selected for `platform` (equal to target when target is a manifest). */
  manifest: Descriptor;
  /** The image config blob. */
  config: Descriptor;
  /** Layers in order (compressed descriptors as in the manifest). */
  layers: Descriptor[];
  /** rootfs.diff_ids from the config, one per layer. */
  diffIds: string[];
  platform: Platform;
  createdAt: string;
  updatedAt: string;
  labels?: Record<string, string>;
}

function fileFor(root: string, name: string): string {
  return path.join(root, 'images', `${createHash('sha256').update(name).digest('hex')}.json`);
}

export class ImageStore {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
    fs.mkdirSync(path.join(root, 'images'), { recursive: true });
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    const r = await readJsonFile<ImageRecord>(fileFor(this.root, name));
    return r && r.name === name ? r : undefined;
  }

  async require(name: string): Promise<ImageRecord> {
    const r = await this.get(name);
    if (!r) throw new BerthError('NOT_FOUND', `image ${name} not found`);
    return r;
  }

  /** Create or replace; keeps createdAt of an existing record with the same target. */
  async put(rec: Omit<ImageRecord, 'createdAt' | 'updatedAt'> & { createdAt?: string }): Promise<ImageRecord> {
    const now = new Date().toISOString();
    const old = await this.get(rec.name);
    const out: ImageRecord = {
      ...rec,
      createdAt: rec.createdAt ?? (old && old.target.digest === rec.target.digest ? old.createdAt : now),
      updatedAt: now,
    };
    await writeFileAtomic(fileFor(this.root, rec.name), JSON.stringify(out, null, 2));
    return out;
  }

  /** Returns false when there was no such image. */
  async delete(name: string): Promise<boolean> {
    try {
      await fs.promises.unlink(fileFor(this.root, name));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async list(): Promise<ImageRecord[]> {
    const dir = path.join(this.root, 'images');
    const out: ImageRecord[] = [];
    for (const n of await fs.promises.readdir(dir)) {
      if (!n.endsWith('.json') || n.startsWith('.')) continue;
      const r = await readJsonFile<ImageRecord>(path.join(dir, n)).catch(() => undefined);
      if (r && typeof r.name === 'string' && r.target) out.push(r);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
