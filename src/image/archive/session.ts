/**
 * One import into the content store: blobs streamed into verified ingests under a lease, records
 * checked against the blobs before any name is registered, and on the way out every blob this
 * import committed that no image (nor any other live lease) references is removed again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { BerthError } from '../../runtime/errors';
import { ContentStore, DigestMismatchError } from '../content/store';
import { ImageStore, type ImageRecord } from '../content/images';
import { createLease, leasedDigests, reachable, type Lease } from '../content/gc';
import { acquireLock } from '../content/lock';
import { parseImageConfig, parseManifest } from '../manifest/parse';
import { hostPlatform, selectManifest, type PlatformSpec } from '../manifest/platform';
import { MediaType, isIndexMediaType, isManifestMediaType, layerCompression, type Descriptor, type LayerCompression, type Platform } from '../manifest/types';
import { LayerDecoder, sniffCompression } from '../pull/decode';
import { ArchiveFormatError, coalesce } from './members';

/** The two stores an archive operation works on. */
export interface ArchiveStores {
  content: ContentStore;
  images: ImageStore;
}

/** Label the pull code also sets: a layer's verified uncompressed digest. */
export const UNCOMPRESSED_LABEL = 'berth.uncompressed';
/** Label with a layer's uncompressed size (saves a decompression pass on export). */
export const UNCOMPRESSED_SIZE_LABEL = 'berth.uncompressed.size';

export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.OciConfig, MediaType.DockerConfig];

export interface LayerFacts {
  diffId: string;
  compression: LayerCompression;
  uncompressedSize: number;
}

export type RecordInput = Omit<ImageRecord, 'createdAt' | 'updatedAt'>;

/** A file whose digest was unknown until it was read (docker-archive layer.tar), kept for commit. */
export interface StagedFile {
  path: string;
  digest: string;
  size: number;
  facts?: LayerFacts;
}

function stageDirName(): string {
  return `.archive-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export class ImportSession {
  /** Blobs this import committed (candidates for removal if nothing ends up using them). */
  readonly fresh = new Set<string>();
  /** Uncompressed digests computed while blobs streamed in. */
  readonly facts = new Map<string, LayerFacts>();
  private stageDir: string | undefined;

  private constructor(
    readonly stores: ArchiveStores,
    private readonly lease: Lease,
  ) {}

  static async open(stores: ArchiveStores): Promise<ImportSession> {
    await removeStaleStaging(stores.content.root);
    return new ImportSession(stores, await createLease(stores.content.root));
  }

  get store(): ContentStore {
    return this.stores.content;
  }

  /**
   * Stream a blob whose digest and size are known into the store; the digest is verified before
   * commit. Also computes its uncompressed digest when it looks like a layer.
   */
  async ingest(digest: string, size: number, body: AsyncIterable<Buffer>): Promise<void> {
    await this.lease.add([digest]);
    const ing = await this.store.openIngest({ digest, size });
    if (!ing) {
      for await (const c of body) void c;
      return;
    }
    let ok = false;
    try {
      await ing.reset();
      const dec = new LayerDecoder();
      let decOk = true;
      for await (const c of coalesce(body)) {
        await ing.write(c);
        if (decOk) {
          try {
            await dec.push(c);
          } catch {
            decOk = false;
          }
        }
      }
      if (ing.offset !== size) throw new DigestMismatchError(`blob ${digest}: the archive holds ${ing.offset} bytes, expected ${size}`);
      await ing.commit();
      ok = true;
      this.fresh.add(digest);
      if (decOk) {
        try {
          const diffId = await dec.finish();
          this.facts.set(digest, { diffId, compression: dec.compression ?? 'none', uncompressedSize: dec.uncompressedSize });
        } catch {
          /* not a valid compressed stream: not a layer */
        }
      } else dec.destroy();
    } finally {
      await ing.close(!ok);
    }
  }

  /** Store a small in-memory blob. */
  async putBlob(data: Buffer, expected?: { digest: string; size: number }): Promise<Descriptor['digest']> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    await this.lease.add([digest]);
    const existed = await this.store.has(digest);
    await this.store.putBlob(data, expected);
    if (!existed) this.fresh.add(digest);
    return digest;
  }

  /** Write a member whose digest is not known yet to a staging file, hashing it on the way. */
  async stage(body: AsyncIterable<Buffer>): Promise<StagedFile> {
    if (!this.stageDir) {
      this.stageDir = path.join(this.store.root, 'ingest', stageDirName());
      await fs.promises.mkdir(this.stageDir, { recursive: true });
    }
    const file = path.join(this.stageDir, randomBytes(8).toString('hex'));
    const fh = await fs.promises.open(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    const hash = createHash('sha256');
    const dec = new LayerDecoder();
    let decOk = true;
    let size = 0;
    try {
      for await (const c of coalesce(body)) {
        let done = 0;
        while (done < c.length) done += (await fh.write(c, done, c.length - done)).bytesWritten;
        hash.update(c);
        size += c.length;
        if (decOk) {
          try {
            await dec.push(c);
          } catch {
            decOk = false;
          }
        }
      }
    } finally {
      await fh.close();
    }
    const out: StagedFile = { path: file, digest: `sha256:${hash.digest('hex')}`, size };
    if (decOk) {
      try {
        out.facts = { diffId: await dec.finish(), compression: dec.compression ?? 'none', uncompressedSize: dec.uncompressedSize };
      } catch {
        /* not a layer */
      }
    } else dec.destroy();
    return out;
  }

  /** Commit a staged file into the store (verified once more while copying). */
  async commitStaged(s: StagedFile): Promise<void> {
    if (s.facts) this.facts.set(s.digest, s.facts);
    await this.lease.add([s.digest]);
    const ing = await this.store.openIngest({ digest: s.digest, size: s.size });
    if (!ing) return;
    let ok = false;
    try {
      await ing.reset();
      const rs = fs.createReadStream(s.path, { highWaterMark: 1 << 20 });
      for await (const c of rs as AsyncIterable<Buffer>) await ing.write(c);
      await ing.commit();
      ok = true;
      this.fresh.add(s.digest);
    } finally {
      await ing.close(!ok);
    }
  }

  /** Uncompressed digest of a committed layer: computed during import, from a label, or by decoding. */
  async layerFacts(digest: string): Promise<LayerFacts> {
    const known = this.facts.get(digest);
    if (known) return known;
    const f = await computeLayerFacts(this.store, digest);
    this.facts.set(digest, f);
    return f;
  }

  /**
   * Check that `target` names a complete image in the store (choosing the manifest for `platform` in
   * an index) and return the record to register. Throws for missing blobs, unknown media types,
   * malformed documents and layers whose uncompressed digest differs from the config's diff_ids.
   */
  async checkImage(name: string, target: Descriptor, want?: PlatformSpec): Promise<RecordInput> {
    const store = this.store;
    const readDoc = async (d: Descriptor, what: string): Promise<Buffer> => {
      const size = await store.stat(d.digest);
      if (size === undefined) throw new BerthError('NOT_FOUND', `${what} ${d.digest} is missing from the archive`);
      if (size !== d.size) throw new DigestMismatchError(`${what} ${d.digest} is ${size} bytes, its descriptor says ${d.size}`);
      return store.readBlob(d.digest);
    };
    const known = (mt: string): boolean => isIndexMediaType(mt) || isManifestMediaType(mt);
    if (!known(target.mediaType)) throw new BerthError('UNSUPPORTED', `${name}: unknown media type ${target.mediaType} (want an image index or manifest)`);
    let cur = target;
    let platform: Platform | undefined;
    let parsed = parseManifest(await readDoc(cur, 'manifest'), cur.mediaType);
    for (let depth = 0; parsed.kind === 'index'; depth++) {
      if (depth > 4) throw new ArchiveFormatError(`${name}: image indexes nested too deeply`);
      // attestation manifests (docker buildx) carry platform unknown/unknown
      const images = parsed.index.manifests.filter((m) => known(m.mediaType) && m.platform?.os !== 'unknown');
      let chosen: Descriptor;
      try {
        chosen = selectManifest(parsed.index, want ?? hostPlatform());
      } catch (err) {
        // An archive may hold an image for another platform; with one candidate and no explicit
        // platform asked for, take it.
        if (want !== undefined || images.length !== 1) throw err;
        chosen = images[0]!;
      }
      if (!known(chosen.mediaType)) throw new BerthError('UNSUPPORTED', `${name}: unknown media type ${chosen.mediaType} in the image index`);
      if (chosen.platform) platform = chosen.platform;
      cur = { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
      parsed = parseManifest(await readDoc(cur, 'manifest'), cur.mediaType);
    }
    const manifest = parsed.manifest;
    if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType)) {
      throw new BerthError('UNSUPPORTED', `${name} is not a container image: unknown config media type ${manifest.config.mediaType}`);
    }
    const config = parseImageConfig(await readDoc(manifest.config, 'image config'));
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new ArchiveFormatError(`${name}: the image config lists ${diffIds.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
    }
    for (const [i, l] of manifest.layers.entries()) {
      const comp = layerCompression(l.mediaType);
      if (comp === undefined) throw new BerthError('UNSUPPORTED', `${name}: layer ${i} has an unknown media type ${l.mediaType}`);
      const size = await store.stat(l.digest);
      if (size === undefined) throw new BerthError('NOT_FOUND', `${name}: layer ${i} (${l.digest}) is missing from the archive`);
      if (size !== l.size) throw new DigestMismatchError(`${name}: layer ${i} (${l.digest}) is ${size} bytes, the manifest says ${l.size}`);
      const f = await this.layerFacts(l.digest);
      if (f.diffId !== diffIds[i]) {
        throw new DigestMismatchError(`${name}: layer ${i} (${l.digest}) uncompressed digest ${f.diffId} does not match the config's diff_id ${diffIds[i]}`);
      }
      await store.setLabel(l.digest, UNCOMPRESSED_LABEL, f.diffId);
      await store.setLabel(l.digest, UNCOMPRESSED_SIZE_LABEL, String(f.uncompressedSize));
    }
    platform ??= { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
    return { name, target, manifest: cur, config: manifest.config, layers: manifest.layers, diffIds, platform };
  }

  /** Register checked records (only call once every blob is committed and checked). */
  async register(records: RecordInput[]): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    for (const r of records) out.push(await this.stores.images.put(r));
    return out;
  }

  /** Release the lease, remove staging files, and drop fresh blobs that nothing references. */
  async close(): Promise<void> {
    await this.lease.release();
    if (this.stageDir) await fs.promises.rm(this.stageDir, { recursive: true, force: true });
    await dropUnreferenced(this.stores, this.fresh);
  }
}

/** Decode a committed layer from the store to learn its uncompressed digest and size. */
export async function computeLayerFacts(store: ContentStore, digest: string): Promise<LayerFacts> {
  const labels = await store.getLabels(digest).catch(() => ({}) as Record<string, string>);
  const diff = labels[UNCOMPRESSED_LABEL];
  const usize = labels[UNCOMPRESSED_SIZE_LABEL];
  if (diff && usize && /^\d+$/.test(usize)) {
    const head = Buffer.alloc(4);
    const fh = await fs.promises.open(store.blobPath(digest), 'r');
    try {
      await fh.read(head, 0, 4, 0);
    } finally {
      await fh.close();
    }
    return { diffId: diff, compression: sniffCompression(head), uncompressedSize: Number(usize) };
  }
  const dec = new LayerDecoder();
  try {
    for await (const c of store.createReadStream(digest) as AsyncIterable<Buffer>) await dec.push(c);
    const diffId = await dec.finish();
    return { diffId, compression: dec.compression ?? 'none', uncompressedSize: dec.uncompressedSize };
  } catch (err) {
    dec.destroy();
    throw err;
  }
}

/** Remove `candidates` that no image and no live lease references (under the GC lock). */
export async function dropUnreferenced(stores: ArchiveStores, candidates: Set<string>): Promise<void> {
  if (candidates.size === 0) return;
  const store = stores.content;
  const lock = await acquireLock(path.join(store.root, 'locks', 'gc.lock'));
  try {
    const roots: Descriptor[] = [];
    for (const img of await stores.images.list()) {
      roots.push(img.target);
      if (img.manifest) roots.push(img.manifest);
    }
    const keep = await reachable(store, roots);
    for (const d of await leasedDigests(store.root)) keep.add(d);
    for (const d of candidates) if (!keep.has(d)) await store.deleteBlob(d);
  } finally {
    await lock.release();
  }
}

/** Staging directories left by importers that died. */
async function removeStaleStaging(root: string): Promise<void> {
  const dir = path.join(root, 'ingest');
  let names: string[] = [];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^\.archive-(\d+)-[0-9a-f]+$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await fs.promises.rm(path.join(dir, n), { recursive: true, force: true });
  }
}

