/**
 * docker-archive, the `docker save` / `docker load` format:
 *
 *   manifest.json        [{"Config": "<hex>.json", "RepoTags": ["busybox:latest"], "Layers": ["<id>/layer.tar", ...]}]
 *   <hex>.json           the image config (its sha256 is the image ID)
 *   <id>/layer.tar       uncompressed layer tars (docker < 25; skopeo writes "<hex>.tar"); duplicated
 *                        layers may be symbolic links to another layer.tar
 *   blobs/sha256/<hex>   docker 25+: config and layers live here (the archive is also an OCI layout)
 *   repositories         {"busybox": {"latest": "<top layer id>"}} (legacy; written, not needed to load)
 *
 * Import stages each layer whose digest is unknown (layer.tar) while hashing it, checks it against the
 * config's diff_ids, commits it uncompressed (digest = diff_id) and writes a Docker schema2 manifest
 * (deterministic JSON, so the same archive always yields the same manifest digest). Export writes
 * uncompressed layers, decompressing gzip/zstd layers from the store on the fly.
 */
import { BerthError } from '../../runtime/errors';
import { familiar, familiarName, parseReference } from '../ref/reference';
import { parseImageConfig, parseManifest } from '../manifest/parse';
import { MediaType, type Descriptor } from '../manifest/types';
import type { ImageRecord } from '../content/images';
import { ArchiveFormatError, members, resolveSource, safeMemberName, type ArchiveSource, type ResolvedSource } from './members';
import { collect, type Collected } from './collect';
import { ImportSession, computeLayerFacts, type ArchiveStores, type LayerFacts, type RecordInput } from './session';
import { openWriter, type ArchiveDest } from './writer';
import { DEFAULT_MAX_METADATA, canonicalName, resolveImage, tap, uncompressedLayer, type ArchiveOperationOptions, type ExportResult, type ImportOptions, type ImportResult } from './common';

export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/** Parse and check manifest.json. */
export function parseDockerManifest(bytes: Buffer): DockerManifestEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ArchiveFormatError(`manifest.json is malformed: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc)) throw new ArchiveFormatError('manifest.json is malformed: not an array');
  if (doc.length === 0) throw new ArchiveFormatError('manifest.json lists no images');
  return doc.map((e: unknown, i): DockerManifestEntry => {
    const bad = (why: string): ArchiveFormatError => new ArchiveFormatError(`manifest.json is malformed: [${i}].${why}`);
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new ArchiveFormatError(`manifest.json is malformed: [${i}] is not an object`);
    const o = e as Record<string, unknown>;
    if (typeof o.Config !== 'string' || o.Config === '') throw bad('Config must be a non-empty string');
    if (!Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string' && l !== '')) throw bad('Layers must be an array of strings');
    if (o.RepoTags !== undefined && o.RepoTags !== null && (!Array.isArray(o.RepoTags) || !o.RepoTags.every((t) => typeof t === 'string'))) {
      throw bad('RepoTags must be an array of strings or null');
    }
    for (const f of [o.Config, ...(o.Layers as string[])]) {
      try {
        safeMemberName(f);
      } catch (err) {
        throw new ArchiveFormatError(`manifest.json [${i}]: ${(err as Error).message}`);
      }
    }
    return { Config: o.Config, Layers: o.Layers as string[], RepoTags: (o.RepoTags as string[] | null | undefined) ?? null };
  });
}

const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

/** Import a docker-archive (tar, optionally gzip/zstd-compressed, or its unpacked directory). */
export async function importDockerArchive(stores: ArchiveStores, src: ArchiveSource, opts: ImportOptions = {}): Promise<ImportResult> {
  const source = await resolveSource(src);
  const maxMeta = opts.maxMetadataSize ?? DEFAULT_MAX_METADATA;
  const session = await ImportSession.open(stores);
  try {
    const c = await collect(session, members(source), maxMeta, 'any', opts);
    return await finishDocker(session, c, opts, source);
  } finally {
    await session.close();
  }
}

/** Second half of a docker-archive import: manifest.json, checks, commits, then names. */
export async function finishDocker(session: ImportSession, c: Collected, opts: ImportOptions, source: ResolvedSource): Promise<ImportResult> {
  const stores = session.stores;
  const { jsons, staged, blobs, links } = c;
  if (c.manifest === undefined) throw new ArchiveFormatError(`${source.kind === 'dir' ? source.dir : source.label}: no manifest.json: not a docker-archive`);
  const manifestBytes = c.manifest;
  const entries = parseDockerManifest(manifestBytes);

  const resolve = (raw: string, what: string): string => {
    let name = safeMemberName(raw);
    for (let hops = 0; links.has(name); hops++) {
      if (hops > 16) throw new ArchiveFormatError(`${what} ${raw}: too many links`);
      name = links.get(name)!;
    }
    return name;
  };

  // Names first, so a bad RepoTag fails before anything is registered.
  const named: Array<{ entry: DockerManifestEntry; names: string[]; index: number }> = [];
  entries.forEach((entry, index) => {
    const names = (entry.RepoTags ?? []).map((t) => {
      try {
        return canonicalName(t);
      } catch (err) {
        throw new ArchiveFormatError(`manifest.json [${index}].RepoTags: ${(err as Error).message}`);
      }
    });
    named.push({ entry, names, index });
  });
  let chosen = named;
  if (opts.select !== undefined) {
    const want = canonicalName(opts.select);
    chosen = named.filter((n) => n.names.includes(want)).map((n) => ({ ...n, names: [want] }));
    if (chosen.length === 0) throw new BerthError('NOT_FOUND', `no image tagged ${opts.select} in manifest.json`);
  }
  if (opts.name !== undefined) {
    if (chosen.length !== 1) throw new BerthError('INVALID_ARGUMENT', `the archive holds ${chosen.length} images; a name can be given to one only (select one)`);
    chosen = [{ ...chosen[0]!, names: [canonicalName(opts.name)] }];
  }

  const records: RecordInput[] = [];
  for (const { entry, names, index } of chosen) {
    if (names.length === 0) {
      throw new BerthError('INVALID_ARGUMENT', `image ${index} in manifest.json has no RepoTags; give a name to import it`);
    }
    // config
    const cfgName = resolve(entry.Config, 'Config');
    let cfgBytes: Buffer;
    const cb = BLOB_NAME.exec(cfgName);
    if (jsons.has(cfgName)) cfgBytes = jsons.get(cfgName)!;
    else if (cb && (blobs.has(cfgName) || (await stores.content.has(`sha256:${cb[1]}`)))) cfgBytes = await stores.content.readBlob(`sha256:${cb[1]}`);
    else throw new BerthError('NOT_FOUND', `manifest.json [${index}]: config ${entry.Config} is missing from the archive`);
    const config = parseImageConfig(cfgBytes);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) {
      throw new ArchiveFormatError(`manifest.json [${index}] lists ${entry.Layers.length} layers but its config has ${diffIds.length} diff_ids`);
    }
    // layers
    const layers: Array<{ digest: string; size: number; facts: LayerFacts }> = [];
    for (const [j, raw] of entry.Layers.entries()) {
      const ln = resolve(raw, 'layer');
      const st = staged.get(ln);
      const lb = BLOB_NAME.exec(ln);
      let l: { digest: string; size: number; facts: LayerFacts };
      if (st) {
        if (!st.facts) throw new ArchiveFormatError(`layer ${raw} is not a valid (optionally compressed) tar stream`);
        l = { digest: st.digest, size: st.size, facts: st.facts };
      } else if (lb && (blobs.has(ln) || (await stores.content.has(`sha256:${lb[1]}`)))) {
        const digest = `sha256:${lb[1]}`;
        l = { digest, size: (await stores.content.stat(digest))!, facts: await session.layerFacts(digest) };
      } else throw new BerthError('NOT_FOUND', `manifest.json [${index}]: layer ${raw} is missing from the archive`);
      if (l.facts.diffId !== diffIds[j]) {
        throw new BerthError('INVALID_ARGUMENT', `manifest.json [${index}]: layer ${raw} has uncompressed digest ${l.facts.diffId}, but the config's diff_ids[${j}] is ${diffIds[j]}`);
      }
      layers.push(l);
    }
    // commit blobs, then the manifest
    for (const [j, raw] of entry.Layers.entries()) {
      const st = staged.get(resolve(raw, 'layer'));
      if (st) await session.commitStaged(st);
      else session.facts.set(layers[j]!.digest, layers[j]!.facts);
    }
    const zstd = layers.some((l) => l.facts.compression === 'zstd');
    const cfgDigest = await session.putBlob(cfgBytes);
    const layerType = (c: LayerFacts['compression']): string =>
      zstd
        ? c === 'zstd' ? MediaType.OciLayerZstd : c === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer
        : c === 'gzip' ? MediaType.DockerLayerGzip : MediaType.DockerLayer;
    const manifestMediaType = zstd ? MediaType.OciManifest : MediaType.DockerManifest;
    const manifest = {
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: { mediaType: zstd ? MediaType.OciConfig : MediaType.DockerConfig, size: cfgBytes.length, digest: cfgDigest },
      layers: layers.map((l) => ({ mediaType: layerType(l.facts.compression), size: l.size, digest: l.digest })),
    };
    const mbytes = Buffer.from(JSON.stringify(manifest, null, 3));
    parseManifest(mbytes, manifestMediaType);
    const mdigest = await session.putBlob(mbytes);
    const target: Descriptor = { mediaType: manifestMediaType, digest: mdigest, size: mbytes.length };
    for (const n of names) records.push(await session.checkImage(n, target, opts.platform));
  }
  const images = await session.register(records);
  return { format: 'docker-archive', images };
}

interface DockerExportImage {
  rec: ImageRecord;
  names: string[];
}

/** Export images (by name) as a docker-archive tar file or stream (or an unpacked directory). */
export async function exportDockerArchive(stores: ArchiveStores, refs: string[], dest: ArchiveDest, opts: ArchiveOperationOptions = {}): Promise<ExportResult> {
  if (refs.length === 0) throw new BerthError('INVALID_ARGUMENT', 'no images to export');
  const store = stores.content;
  // Group names by image (same manifest): one manifest.json entry with several RepoTags.
  const groups = new Map<string, DockerExportImage>();
  for (const r of refs) {
    const rec = await resolveImage(stores.images, r);
    const g = groups.get(rec.manifest.digest);
    if (g) {
      if (!g.names.includes(rec.name)) g.names.push(rec.name);
    } else groups.set(rec.manifest.digest, { rec, names: [rec.name] });
  }
  // Check everything needed is present before writing a byte.
  const plan: Array<{ g: DockerExportImage; config: Buffer; layers: Array<{ desc: Descriptor; diffId: string; facts: LayerFacts }> }> = [];
  for (const g of groups.values()) {
    const rec = g.rec;
    for (const d of [rec.manifest, rec.config, ...rec.layers]) {
      if (!(await store.has(d.digest))) throw new BerthError('NOT_FOUND', `image ${rec.name} is incomplete: blob ${d.digest} is not in the content store`);
    }
    const config = await store.readBlob(rec.config.digest);
    const parsed = parseImageConfig(config);
    const diffIds = parsed.rootfs.diff_ids;
    if (diffIds.length !== rec.layers.length) throw new BerthError('INVALID_ARGUMENT', `image ${rec.name}: config and manifest disagree on the number of layers`);
    const layers = [];
    for (const [i, d] of rec.layers.entries()) layers.push({ desc: d, diffId: diffIds[i]!, facts: await computeLayerFacts(store, d.digest) });
    plan.push({ g, config, layers });
  }

  const w = await openWriter(dest);
  let files = 0;
  const manifestJson: DockerManifestEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  try {
    const written = new Set<string>();
    for (const { g, config, layers } of plan) {
      const layerPaths: string[] = [];
      for (const l of layers) {
        const id = l.diffId.slice('sha256:'.length);
        const p = `${id}/layer.tar`;
        layerPaths.push(p);
        if (written.has(p)) continue;
        written.add(p);
        await w.dir(id);
        await w.file(p, l.facts.uncompressedSize, tap(uncompressedLayer(store, l.desc.digest, l.facts.compression, l.diffId), p, l.facts.uncompressedSize, opts));
        files++;
      }
      const cfgName = `${g.rec.config.digest.slice('sha256:'.length)}.json`;
      if (!written.has(cfgName)) {
        written.add(cfgName);
        await w.file(cfgName, config.length, config);
        files++;
      }
      const tags: string[] = [];
      for (const n of g.names) {
        const ref = parseReference(n);
        if (ref.tag === undefined) continue;
        tags.push(familiar({ domain: ref.domain, path: ref.path, tag: ref.tag }));
        const repo = familiarName(ref);
        repositories[repo] ??= {};
        const top = layerPaths[layerPaths.length - 1];
        if (top) repositories[repo]![ref.tag] = top.split('/')[0]!;
      }
      manifestJson.push({ Config: cfgName, RepoTags: tags.length ? tags : null, Layers: layerPaths });
    }
    const mj = Buffer.from(JSON.stringify(manifestJson));
    await w.file('manifest.json', mj.length, mj);
    const rp = Buffer.from(JSON.stringify(repositories));
    await w.file('repositories', rp.length, rp);
    files += 2;
    await w.finish();
  } catch (err) {
    await w.abort(err);
    throw err;
  }
  return { format: 'docker-archive', names: [...groups.values()].flatMap((g) => g.names), files };
}
