/**
 * Shared pieces of import and export: option and result types, image lookup, verified blob reads.
 */
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { BerthError } from '../../runtime/errors';
import { canonical, parseReference } from '../ref/reference';
import { DigestMismatchError, type ContentStore } from '../content/store';
import type { ImageRecord, ImageStore } from '../content/images';
import type { PlatformSpec } from '../manifest/platform';
import type { LayerCompression } from '../manifest/types';
import { ZstdTransform } from './members';

export type ArchiveFormat = 'oci-layout' | 'docker-archive';

/** Progress of one file or blob being read (import) or written (export). */
export interface ArchiveProgress {
  /** Archive member name ("blobs/sha256/<hex>", "<id>/layer.tar", "manifest.json"). */
  name: string;
  bytes: number;
  /** Expected size (0 when unknown). */
  total: number;
  state: 'copying' | 'done';
}

/** Options both directions share. */
export interface ArchiveOperationOptions {
  /** Called as bytes move: 'copying' at most every 100 ms per file, then 'done'. Must not throw. */
  onProgress?: (p: ArchiveProgress) => void;
  /** Abort the operation (an import then leaves the store as it was). */
  signal?: AbortSignal;
}

export interface ImportOptions extends ArchiveOperationOptions {
  /** Register the (single) image under this name instead of the names the archive carries. */
  name?: string;
  /** Repository for OCI ref.name annotations that are bare tags ("latest" -> "<baseName>:latest"). */
  baseName?: string;
  /** Import only the index.json entry (OCI) or RepoTag (docker) with this name. */
  select?: string;
  /** Platform to choose from an index (default: this host, or the only image there is). */
  platform?: PlatformSpec;
  /** Largest metadata file (index.json, manifest.json, configs) read into memory; default 32 MiB. */
  maxMetadataSize?: number;
}

export interface ImportResult {
  format: ArchiveFormat;
  images: ImageRecord[];
}

export interface ExportResult {
  format: ArchiveFormat;
  /** Image names written, in order. */
  names: string[];
  /** Number of blobs (OCI) or files (docker) written. */
  files: number;
}

export const DEFAULT_MAX_METADATA = 32 * 1024 * 1024;

/** Canonical image name for what a user typed (or a stored record name as is). */
export function canonicalName(ref: string): string {
  return canonical(parseReference(ref));
}

export async function resolveImage(images: ImageStore, ref: string): Promise<ImageRecord> {
  const direct = await images.get(ref);
  if (direct) return direct;
  let name: string;
  try {
    name = canonicalName(ref);
  } catch {
    throw new BerthError('NOT_FOUND', `image ${ref} not found`);
  }
  const r = await images.get(name);
  if (!r) throw new BerthError('NOT_FOUND', `image ${ref} not found`);
  return r;
}

/** A committed blob's bytes, hashed on the way; throws at the end if they do not match the digest. */
export async function* verifiedBlob(store: ContentStore, digest: string): AsyncGenerator<Buffer> {
  const h = createHash('sha256');
  for await (const c of store.createReadStream(digest) as AsyncIterable<Buffer>) {
    h.update(c);
    yield c;
  }
  const got = `sha256:${h.digest('hex')}`;
  if (got !== digest) throw new DigestMismatchError(`blob ${digest} in the content store is corrupt (reads as ${got})`);
}

/** A layer's uncompressed tar from the store, checked against its diff_id at the end. */
export async function* uncompressedLayer(store: ContentStore, digest: string, compression: LayerCompression, diffId: string): AsyncGenerator<Buffer> {
  const src = store.createReadStream(digest);
  const h = createHash('sha256');
  let iter: AsyncIterable<Buffer>;
  if (compression === 'none') iter = src as AsyncIterable<Buffer>;
  else {
    const dec = compression === 'gzip' ? zlib.createGunzip() : new ZstdTransform();
    src.on('error', (e) => dec.destroy(e));
    src.pipe(dec);
    iter = dec as AsyncIterable<Buffer>;
  }
  try {
    for await (const c of iter) {
      h.update(c);
      yield c;
    }
  } finally {
    src.destroy();
  }
  const got = `sha256:${h.digest('hex')}`;
  if (got !== diffId) throw new DigestMismatchError(`layer ${digest}: uncompressed digest ${got} does not match diff_id ${diffId}`);
}

/** Pass a body through, checking `signal` and reporting progress. */
export async function* tap(body: AsyncIterable<Buffer>, name: string, total: number, opts: ArchiveOperationOptions): AsyncGenerator<Buffer> {
  const { onProgress, signal } = opts;
  if (!onProgress && !signal) {
    yield* body;
    return;
  }
  let bytes = 0;
  let last = 0;
  const report = (state: ArchiveProgress['state']): void => {
    try {
      onProgress?.({ name, bytes, total, state });
    } catch {
      /* a display must not break the operation */
    }
  };
  for await (const c of body) {
    signal?.throwIfAborted();
    bytes += c.length;
    const now = Date.now();
    if (now - last >= 100) {
      last = now;
      report('copying');
    }
    yield c;
  }
  signal?.throwIfAborted();
  report('done');
}
