/**
 * Leases and garbage collection.
 *
 * A lease (<root>/leases/<id>.json: owner pid+starttime and digests) protects blobs an operation is
 * about to use before any image record points at them (a pull in progress). Leases of dead processes
 * are ignored and removed.
 *
 * Protocol against races: GC takes <root>/locks/gc.lock, then reads leases and images, then sweeps.
 * A lease holder writes the lease first and then waits until no GC holds the lock before it relies on
 * a blob being present (Lease.add does both), so a GC either sees the lease or finishes first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isErrno } from '../../runtime/errors';
import { isIndexMediaType, isManifestMediaType, type Descriptor } from '../manifest/types';
import { parseManifest } from '../manifest/parse';
import { readJsonFile, sleep, writeFileAtomic } from './fsutil';
import { LockOwner, acquireLock, lockHeld, ownerAlive, selfOwner } from './lock';
import type { ContentStore } from './store';
import type { ImageStore } from './images';

interface LeaseFile {
  owner: LockOwner;
  createdAt: string;
  digests: string[];
}

function gcLockPath(root: string): string {
  return path.join(root, 'locks', 'gc.lock');
}

async function waitGcIdle(root: string): Promise<void> {
  while (lockHeld(gcLockPath(root))) await sleep(20);
}

export class Lease {
  readonly id: string;
  private readonly file: string;
  private readonly root: string;
  private readonly digests = new Set<string>();
  private released = false;

  constructor(root: string, id: string) {
    this.root = root;
    this.id = id;
    this.file = path.join(root, 'leases', `${id}.json`);
  }

  /** Protect more digests; returns once it is safe to rely on their presence. */
  async add(digests: Iterable<string>): Promise<void> {
    let changed = false;
    for (const d of digests) {
      if (!this.digests.has(d)) {
        this.digests.add(d);
        changed = true;
      }
    }
    if (changed || !fs.existsSync(this.file)) {
      const f: LeaseFile = { owner: selfOwner(), createdAt: new Date().toISOString(), digests: [...this.digests] };
      await writeFileAtomic(this.file, JSON.stringify(f));
    }
    await waitGcIdle(this.root);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await fs.promises.rm(this.file, { force: true });
  }
}

export async function createLease(root: string, digests: Iterable<string> = []): Promise<Lease> {
  await fs.promises.mkdir(path.join(root, 'leases'), { recursive: true });
  const l = new Lease(root, `${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}`);
  await l.add(digests);
  return l;
}

/** Digests protected by live leases; leases of dead processes are deleted. */
export async function leasedDigests(root: string): Promise<Set<string>> {
  const dir = path.join(root, 'leases');
  const out = new Set<string>();
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return out;
    throw err;
  }
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    const f = await readJsonFile<LeaseFile>(path.join(dir, n)).catch(() => undefined);
    if (!f || !f.owner || !ownerAlive(f.owner)) {
      await fs.promises.rm(path.join(dir, n), { force: true });
      continue;
    }
    for (const d of f.digests) out.add(d);
  }
  return out;
}

/** All blobs reachable from `roots` (index -> manifests -> config + layers). Missing blobs are skipped. */
export async function reachable(store: ContentStore, roots: Descriptor[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length) {
    const d = queue.pop()!;
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType)) continue;
    let bytes: Buffer;
    try {
      bytes = await store.readBlob(d.digest);
    } catch {
      continue;
    }
    try {
      const p = parseManifest(bytes, d.mediaType);
      if (p.kind === 'index') queue.push(...p.index.manifests);
      else queue.push(p.manifest.config, ...p.manifest.layers);
    } catch {
      /* unparseable: keep the blob itself, nothing below it */
    }
  }
  return seen;
}

export interface GcOptions {
  /** Also treat these digests as roots (walked like descriptors of unknown type). */
  extraRoots?: Descriptor[];
  /** Remove ingests nobody is writing once they are older than this (ms); default 24 h. */
  ingestMaxAgeMs?: number;
  dryRun?: boolean;
}

export interface GcResult {
  removed: string[];
  bytesFreed: number;
  ingestsRemoved: string[];
}

/** Remove every blob no image (or live lease) references. */
export async function garbageCollect(store: ContentStore, images: ImageStore, opts: GcOptions = {}): Promise<GcResult> {
  const lock = await acquireLock(gcLockPath(store.root));
  try {
    const roots: Descriptor[] = [...(opts.extraRoots ?? [])];
    for (const img of await images.list()) {
      roots.push(img.target);
      if (img.manifest) roots.push(img.manifest);
    }
    const keep = await reachable(store, roots);
    for (const d of await leasedDigests(store.root)) keep.add(d);
    const result: GcResult = { removed: [], bytesFreed: 0, ingestsRemoved: [] };
    for (const d of await store.listBlobs()) {
      if (keep.has(d)) continue;
      const size = (await store.stat(d)) ?? 0;
      if (!opts.dryRun) await store.deleteBlob(d);
      result.removed.push(d);
      result.bytesFreed += size;
    }
    const maxAge = opts.ingestMaxAgeMs ?? 24 * 3600 * 1000;
    for (const ing of await store.listIngests()) {
      if (ing.active || keep.has(ing.digest)) continue;
      const t = ing.updatedAt ? Date.parse(ing.updatedAt) : 0;
      if (Date.now() - t < maxAge) continue;
      if (!opts.dryRun) await store.removeIngest(ing.digest);
      result.ingestsRemoved.push(ing.digest);
    }
    return result;
  } finally {
    await lock.release();
  }
}
