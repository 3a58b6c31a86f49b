/**
 * OCI image layout (image-spec image-layout.md): `oci-layout`, `index.json` and `blobs/sha256/<hex>`,
 * as a directory or a tar of one. Export writes images from the content store; import streams every
 * blob into a verified ingest and registers the names carried by index.json's annotations.
 *
 * Names: export puts the tag in `org.opencontainers.image.ref.name` (what skopeo, umoci and docker
 * use; the full name when two exported images share a tag or the name has no tag) and the full name in
 * `io.containerd.image.name`. Import prefers `io.containerd.image.name`, then a ref.name that is a full
 * reference, then `<baseName>:<ref.name>`, then the caller's `name`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { BerthError } from '../../runtime/errors';
import { parseReference } from '../ref/reference';
import { parseManifest } from '../manifest/parse';
import { MediaType, isIndexMediaType, isManifestMediaType, type Descriptor, type ImageIndex } from '../manifest/types';
import type { ImageRecord } from '../content/images';
import { ArchiveFormatError, dirFileBody, members, resolveSource, type ArchiveMember, type ArchiveSource, type ResolvedSource } from './members';
import { collect, type Collected } from './collect';
import { ImportSession, type ArchiveStores, type RecordInput } from './session';
import { openWriter, type ArchiveDest } from './writer';
import { DEFAULT_MAX_METADATA, canonicalName, resolveImage, tap, verifiedBlob, type ArchiveOperationOptions, type ExportResult, type ImportOptions, type ImportResult } from './common';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';
export const OCI_LAYOUT_VERSION = '1.0.0';

export interface OciExportOptions extends ArchiveOperationOptions {
  /** What to put in ref.name: the tag (default; the full name when needed) or always the full name. */
  refName?: 'tag' | 'full';
  /**
   * Keep Docker schema2 manifests as they are (digests preserved) instead of rewriting them with OCI
   * media types (the default, which skopeo and umoci need).
   */
  keepDockerMediaTypes?: boolean;
}

interface ExportItem {
  rec: ImageRecord;
  top: Descriptor;
  /** Blobs to write: from the store, or (converted manifests) from memory. */
  blobs: Array<Descriptor & { bytes?: Buffer }>;
}

const DOCKER_TO_OCI: Record<string, string> = {
  [MediaType.DockerManifest]: MediaType.OciManifest,
  [MediaType.DockerManifestList]: MediaType.OciIndex,
  [MediaType.DockerConfig]: MediaType.OciConfig,
  [MediaType.DockerLayer]: MediaType.OciLayer,
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerLayerZstd]: MediaType.OciLayerZstd,
  [MediaType.DockerForeignLayer]: MediaType.OciLayerNonDistributableGzip,
};

function ociType(mt: string): string {
  return DOCKER_TO_OCI[mt] ?? mt;
}

/**
 * Rewrite Docker schema2 manifests and manifest lists under `top` with OCI media types (what skopeo
 * does when it writes an OCI layout; umoci and skopeo read only OCI types there). Config and layer
 * blobs are unchanged; manifests and indexes get new bytes and digests.
 */
async function convertToOci(stores: ArchiveStores, top: Descriptor, blobs: Descriptor[]): Promise<{ top: Descriptor; blobs: ExportItem['blobs'] }> {
  const included = new Set(blobs.map((b) => b.digest));
  const out = new Map<string, Descriptor & { bytes?: Buffer }>();
  const converted = new Map<string, Descriptor>();
  const convert = async (d: Descriptor): Promise<Descriptor> => {
    const done = converted.get(d.digest);
    if (done) return { ...d, ...done };
    if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType)) {
      out.set(d.digest, d);
      return { ...d, mediaType: ociType(d.mediaType) };
    }
    const p = parseManifest(await stores.content.readBlob(d.digest), d.mediaType);
    let doc: Record<string, unknown>;
    const mt = p.kind === 'index' ? MediaType.OciIndex : MediaType.OciManifest;
    let changed = p.mediaType !== mt;
    const conv = async (c: Descriptor, walk: boolean): Promise<Descriptor> => {
      const n = walk ? await convert(c) : { ...c, mediaType: ociType(c.mediaType) };
      if (n.digest !== c.digest || n.mediaType !== c.mediaType) changed = true;
      return n;
    };
    if (p.kind === 'index') {
      const manifests: Descriptor[] = [];
      for (const m of p.index.manifests) manifests.push(await conv(m, included.has(m.digest)));
      doc = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
      if (p.index.annotations) doc.annotations = p.index.annotations;
    } else {
      const m = p.manifest;
      const config = await conv(m.config, true);
      const layers: Descriptor[] = [];
      for (const l of m.layers) layers.push(await conv(l, true));
      doc = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers };
      if (m.annotations) doc.annotations = m.annotations;
    }
    if (!changed) {
      out.set(d.digest, d);
      converted.set(d.digest, { mediaType: mt, digest: d.digest, size: d.size });
      return d;
    }
    const bytes = Buffer.from(JSON.stringify(doc));
    const nd: Descriptor = { mediaType: mt, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
    out.set(nd.digest, { ...nd, bytes });
    converted.set(d.digest, nd);
    return { ...d, ...nd };
  };
  const newTop = await convert(top);
  return { top: newTop, blobs: [...out.values()] };
}

/** Blobs under `top` that are in the store; throws if anything the record's own manifest needs is missing. */
async function closure(stores: ArchiveStores, rec: ImageRecord): Promise<{ top: Descriptor; blobs: Descriptor[] }> {
  const store = stores.content;
  const need = async (d: Descriptor): Promise<void> => {
    if (!(await store.has(d.digest))) throw new BerthError('NOT_FOUND', `image ${rec.name} is incomplete: blob ${d.digest} is not in the content store`);
  };
  const platformBlobs: Descriptor[] = [rec.manifest, rec.config, ...rec.layers];
  for (const d of platformBlobs) await need(d);
  if (rec.target.digest === rec.manifest.digest) return { top: rec.target, blobs: platformBlobs };
  // Export the whole index when every image it lists is present, else only this platform's manifest.
  const blobs: Descriptor[] = [rec.target];
  const seen = new Set<string>([rec.target.digest]);
  const queue: Descriptor[] = [rec.target];
  let complete = await store.has(rec.target.digest);
  while (complete && queue.length) {
    const d = queue.pop()!;
    const p = parseManifest(await store.readBlob(d.digest), d.mediaType);
    const children = p.kind === 'index' ? p.index.manifests : [p.manifest.config, ...p.manifest.layers];
    for (const c of children) {
      if (seen.has(c.digest)) continue;
      seen.add(c.digest);
      if (!(await store.has(c.digest))) {
        complete = false;
        break;
      }
      blobs.push(c);
      if (isIndexMediaType(c.mediaType) || isManifestMediaType(c.mediaType)) queue.push(c);
    }
  }
  if (complete) return { top: rec.target, blobs };
  const top: Descriptor = { mediaType: rec.manifest.mediaType, digest: rec.manifest.digest, size: rec.manifest.size, platform: rec.platform };
  return { top, blobs: platformBlobs };
}

/** Export images (by name) from the store as an OCI image layout directory, tar file or tar stream. */
export async function exportOciLayout(stores: ArchiveStores, refs: string[], dest: ArchiveDest, opts: OciExportOptions = {}): Promise<ExportResult> {
  if (refs.length === 0) throw new BerthError('INVALID_ARGUMENT', 'no images to export');
  const items: ExportItem[] = [];
  for (const r of refs) {
    const rec = await resolveImage(stores.images, r);
    if (items.some((i) => i.rec.name === rec.name)) continue;
    const c = await closure(stores, rec);
    items.push({ rec, ...(opts.keepDockerMediaTypes ? c : await convertToOci(stores, c.top, c.blobs)) });
  }
  // ref.name values
  const tags = items.map((i) => parseReference(i.rec.name).tag);
  const useFull = opts.refName === 'full' || tags.some((t, i) => t === undefined || tags.indexOf(t) !== i);
  const entries: Descriptor[] = items.map((it, i) => ({
    ...it.top,
    annotations: { [CONTAINERD_NAME_ANNOTATION]: it.rec.name, [REF_NAME_ANNOTATION]: useFull ? it.rec.name : tags[i]! },
  }));

  if ('dir' in dest) {
    const existing = await fs.promises.readdir(dest.dir).catch(() => [] as string[]);
    if (existing.length > 0 && !existing.includes('oci-layout')) {
      throw new ArchiveFormatError(`${dest.dir} is not empty and not an OCI image layout; refusing to write into it`);
    }
  }
  const w = await openWriter(dest);
  let files = 0;
  try {
    // Merge into an existing layout directory: keep its other entries.
    let previous: Descriptor[] = [];
    const oldLayout = await w.read('oci-layout');
    const oldIndex = await w.read('index.json');
    if (oldIndex !== undefined) {
      if (oldLayout === undefined) throw new ArchiveFormatError('the destination has an index.json but no oci-layout file: not an OCI image layout');
      const p = parseManifest(oldIndex, MediaType.OciIndex);
      if (p.kind !== 'index') throw new ArchiveFormatError('the destination index.json is not an image index');
      const ours = new Set(entries.map((e) => e.annotations?.[REF_NAME_ANNOTATION]));
      previous = p.index.manifests.filter((m) => !ours.has(m.annotations?.[REF_NAME_ANNOTATION]));
    }
    if (oldLayout === undefined) await w.file('oci-layout', Buffer.byteLength(layoutFile()), Buffer.from(layoutFile()));
    await w.dir('blobs');
    await w.dir('blobs/sha256');
    const written = new Set<string>();
    for (const it of items) {
      for (const b of it.blobs) {
        if (written.has(b.digest)) continue;
        written.add(b.digest);
        const name = `blobs/sha256/${b.digest.slice('sha256:'.length)}`;
        if (await w.has(name, b.size)) continue;
        await w.file(name, b.size, b.bytes ?? tap(verifiedBlob(stores.content, b.digest), name, b.size, opts));
        files++;
      }
    }
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...previous, ...entries] };
    const bytes = Buffer.from(JSON.stringify(index));
    await w.file('index.json', bytes.length, bytes);
    await w.finish();
  } catch (err) {
    await w.abort(err);
    throw err;
  }
  return { format: 'oci-layout', names: items.map((i) => i.rec.name), files };
}

function layoutFile(): string {
  return JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION });
}

/** The name an index.json entry is registered under. */
export function entryName(d: Descriptor, opts: ImportOptions, count: number): string {
  if (opts.name !== undefined) {
    if (count !== 1) throw new BerthError('INVALID_ARGUMENT', `the archive holds ${count} images; a name can be given to one only (select one)`);
    return canonicalName(opts.name);
  }
  const a = d.annotations ?? {};
  const full = a[CONTAINERD_NAME_ANNOTATION];
  if (full) {
    try {
      return canonicalName(full);
    } catch {
      /* fall through to ref.name */
    }
  }
  const ref = a[REF_NAME_ANNOTATION];
  if (ref) {
    if (/[/:@]/.test(ref)) return canonicalName(ref);
    if (opts.baseName !== undefined) return canonicalName(`${opts.baseName}:${ref}`);
    throw new BerthError('INVALID_ARGUMENT', `the image tagged ${JSON.stringify(ref)} in index.json carries no repository name; give a base name or a name`);
  }
  throw new BerthError('INVALID_ARGUMENT', `image ${d.digest} in index.json has no name (no ${REF_NAME_ANNOTATION} annotation); give a name`);
}

function matches(d: Descriptor, sel: string): boolean {
  const a = d.annotations ?? {};
  if (a[REF_NAME_ANNOTATION] === sel || a[CONTAINERD_NAME_ANNOTATION] === sel) return true;
  try {
    const c = canonicalName(sel);
    return [a[REF_NAME_ANNOTATION], a[CONTAINERD_NAME_ANNOTATION]].some((x) => {
      try {
        return x !== undefined && /[/:@]/.test(x) && canonicalName(x) === c;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Import an OCI image layout (directory or tar, tar optionally gzip/zstd-compressed). */
export async function importOciLayout(stores: ArchiveStores, src: ArchiveSource, opts: ImportOptions = {}): Promise<ImportResult> {
  const source = await resolveSource(src);
  const maxMeta = opts.maxMetadataSize ?? DEFAULT_MAX_METADATA;
  const session = await ImportSession.open(stores);
  try {
    // A directory: read the metadata only; blobs are read below, only those the images reference.
    const c = await collect(session, source.kind === 'dir' ? smallFiles(source.dir) : members(source), maxMeta, 'oci', opts);
    return await finishOci(session, c, opts, source);
  } finally {
    await session.close();
  }
}

/** Second half of an OCI import: check index.json, then the images, then register them. */
export async function finishOci(session: ImportSession, c: Collected, opts: ImportOptions, source: ResolvedSource): Promise<ImportResult> {
  if (c.layout === undefined) {
    throw new ArchiveFormatError(`${source.kind === 'dir' ? source.dir : source.label}: no oci-layout file: not an OCI image layout`);
  }
  let version: unknown;
  try {
    version = (JSON.parse(c.layout.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    throw new ArchiveFormatError('oci-layout is not JSON');
  }
  if (typeof version !== 'string' || !/^1\.\d+\.\d+/.test(version)) {
    throw new BerthError('UNSUPPORTED', `unsupported OCI image layout version ${JSON.stringify(version)}`);
  }
  if (c.index === undefined) throw new ArchiveFormatError('the OCI image layout has no index.json');
  const p = parseManifest(c.index, MediaType.OciIndex);
  if (p.kind !== 'index') throw new ArchiveFormatError('index.json is not an image index');
  let entries = p.index.manifests;
  if (opts.select !== undefined) {
    entries = entries.filter((d) => matches(d, opts.select!));
    if (entries.length === 0) throw new BerthError('NOT_FOUND', `no image named ${JSON.stringify(opts.select)} in index.json`);
  }
  if (entries.length === 0) throw new ArchiveFormatError('index.json lists no images');
  if (source.kind === 'dir') await ingestReachable(session, source.dir, entries, opts);
  const records: RecordInput[] = [];
  for (const d of entries) {
    const name = entryName(d, opts, entries.length);
    const target: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    records.push(await session.checkImage(name, target, opts.platform));
  }
  const images = await session.register(records);
  return { format: 'oci-layout', images };
}

/** oci-layout and index.json of a layout directory, as members. */
async function* smallFiles(dir: string): AsyncGenerator<ArchiveMember> {
  for (const name of ['oci-layout', 'index.json']) {
    const st = await fs.promises.lstat(path.join(dir, name)).catch(() => undefined);
    if (!st) continue;
    if (!st.isFile()) throw new ArchiveFormatError(`${path.join(dir, name)} is not a regular file`);
    yield { name, type: 'file', size: st.size, body: dirFileBody(path.join(dir, name)) };
  }
}

/** Copy into the store every blob reachable from `entries` that the layout directory holds. */
async function ingestReachable(session: ImportSession, dir: string, entries: Descriptor[], opts: ArchiveOperationOptions): Promise<void> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length) {
    const d = queue.shift()!;
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    const [alg, hex] = d.digest.split(':') as [string, string];
    if (alg !== 'sha256') throw new BerthError('UNSUPPORTED', `blob ${d.digest}: only sha256 digests are supported`);
    const file = path.join(dir, 'blobs', 'sha256', hex);
    const st = await fs.promises.lstat(file).catch(() => undefined);
    if (st) {
      if (!st.isFile()) throw new ArchiveFormatError(`${file} is not a regular file`);
      await session.ingest(d.digest, st.size, tap(dirFileBody(file), `blobs/sha256/${hex}`, st.size, opts));
    }
    if (!(isIndexMediaType(d.mediaType) || isManifestMediaType(d.mediaType)) || !(await session.store.has(d.digest))) continue;
    if (d.size > 16 * 1024 * 1024) throw new ArchiveFormatError(`manifest ${d.digest} is implausibly large (${d.size} bytes)`);
    const p = parseManifest(await session.store.readBlob(d.digest), d.mediaType);
    if (p.kind === 'index') queue.push(...p.index.manifests);
    else queue.push(p.manifest.config, ...p.manifest.layers);
  }
}
