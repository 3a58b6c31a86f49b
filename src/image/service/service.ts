/**
 * The image service front ends share (berth CLI now; berthd can use the same): one object holding
 * the content store, image records, snapshotter and registry client for a store root, plus the
 * operations the CLI's image commands need beyond the image libraries (lookup by name or ID, image
 * summaries, remove with cleanup, prune, pull with unpack, unpack after load).
 *
 * Layout under `root` (docs/images.md): blobs/, ingest/, images/, leases/, locks/ (content and
 * image records) and snapshots/ (the Snapshotter's store).
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { BerthError } from '../../runtime/errors';
import { ContentStore, ImageStore, garbageCollect, leasedDigests, type ImageRecord } from '../content';
import { RegistryClient, DockerConfig, credentialChain, type Credentials } from '../registry';
import { Snapshotter, pullUnpacker, unpackLayers, chainIds } from '../snapshot';
import { pullImage, type PullProgress } from '../pull';
import { sniffCompression } from '../pull/decode';
import { uncompressedLayer } from '../archive/common';
import { parseImageConfig } from '../manifest/parse';
import type { PlatformSpec } from '../manifest/platform';
import type { ImageConfig } from '../manifest/types';
import { canonical, familiar, parseReference, repositoryName } from '../ref';

export const DEFAULT_ROOT = '/var/lib/berth';

/**
 * Who uses an image (containers, next session): returns the names of containers using image ID
 * `imageId` (the config digest). The default knows of no containers.
 */
export type ImageUsersHook = (imageId: string) => Promise<string[]>;

export interface ImageServiceOptions {
  root?: string;
  /** hosts.toml directory (docs/registry-hosts.md). */
  hostsDir?: string;
  /** docker-style config.json for registry credentials (default $DOCKER_CONFIG or ~/.docker). */
  dockerConfig?: string;
  /** Credentials from the caller, for every registry (CRI AuthConfig). */
  credentials?: Credentials;
  maxConcurrentDownloads?: number;
  imageUsers?: ImageUsersHook;
}

/** The image ID docker shows: the config digest. */
export function imageId(rec: ImageRecord): string {
  return rec.config.digest;
}

/** Chain ID of the image's top layer: the parent for a container's snapshot (undefined: no layers). */
export function topChainId(rec: ImageRecord): string | undefined {
  return rec.diffIds.length ? chainIds(rec.diffIds).at(-1) : undefined;
}

/** Bytes the image occupies in the content store (config + layers, as stored). */
export function contentSize(rec: ImageRecord): number {
  return rec.config.size + rec.layers.reduce((n, l) => n + l.size, 0);
}

export class ImageService {
  readonly root: string;
  readonly content: ContentStore;
  readonly images: ImageStore;
  readonly options: ImageServiceOptions;
  imageUsers: ImageUsersHook;
  private snaps: Promise<Snapshotter> | undefined;
  private clientInst: RegistryClient | undefined;

  constructor(opts: ImageServiceOptions = {}) {
    this.options = opts;
    this.root = path.resolve(opts.root ?? DEFAULT_ROOT);
    try {
      fs.mkdirSync(this.root, { recursive: true });
    } catch (err) {
      throw new BerthError('PERMISSION_DENIED', `cannot create the store root ${this.root}: ${(err as Error).message} (use --root DIR, or run as root)`);
    }
    this.content = new ContentStore(this.root);
    this.images = new ImageStore(this.root);
    this.imageUsers = opts.imageUsers ?? (async () => []);
  }

  snapshotter(): Promise<Snapshotter> {
    this.snaps ??= Snapshotter.open({ root: path.join(this.root, 'snapshots') });
    return this.snaps;
  }

  client(): RegistryClient {
    if (!this.clientInst) {
      const dockerConfig = DockerConfig.load(this.options.dockerConfig);
      const creds: { caller?: Credentials; dockerConfig: DockerConfig } = { dockerConfig };
      if (this.options.credentials) creds.caller = this.options.credentials;
      const o: ConstructorParameters<typeof RegistryClient>[0] = { credentials: credentialChain(creds) };
      if (this.options.hostsDir !== undefined && fs.existsSync(this.options.hostsDir)) o.hostsDir = this.options.hostsDir;
      if (this.options.maxConcurrentDownloads !== undefined) o.maxConcurrentDownloads = this.options.maxConcurrentDownloads;
      this.clientInst = new RegistryClient(o);
    }
    return this.clientInst;
  }

  async config(rec: ImageRecord): Promise<ImageConfig> {
    return parseImageConfig(await this.content.readBlob(rec.config.digest));
  }

  // ---- lookup ------------------------------------------------------------------------------------

  /**
   * Find an image by what a person typed: a name ("busybox", "busybox:1", "host:5000/a/b@sha256:..."),
   * a full image ID ("sha256:<hex>") or a unique prefix of one ("3f4e5a"). Returns the record matched
   * by name, or every record with that ID (several names can share one image). NOT_FOUND otherwise.
   */
  async find(input: string): Promise<{ byName: ImageRecord | undefined; records: ImageRecord[]; id: string }> {
    let parsed: string | undefined;
    try {
      parsed = canonical(parseReference(input));
    } catch {
      parsed = undefined;
    }
    const all = await this.images.list();
    if (parsed !== undefined) {
      const rec = all.find((r) => r.name === parsed) ?? all.find((r) => r.name === input);
      if (rec) return { byName: rec, records: all.filter((r) => imageId(r) === imageId(rec)), id: imageId(rec) };
    }
    const m = /^(?:sha256:)?([0-9a-f]{1,64})$/.exec(input);
    if (m) {
      const hex = m[1]!;
      const ids = new Set(all.map(imageId).filter((id) => id.slice(7).startsWith(hex)));
      if (ids.size > 1) throw new BerthError('INVALID_ARGUMENT', `image ID prefix ${JSON.stringify(input)} is ambiguous: it matches ${ids.size} images`);
      if (ids.size === 1) {
        const id = [...ids][0]!;
        return { byName: undefined, records: all.filter((r) => imageId(r) === id), id };
      }
    }
    throw new BerthError('NOT_FOUND', notFoundMessage(input));
  }

  // ---- pull --------------------------------------------------------------------------------------

  /**
   * Pull into the content store and unpack into snapshots. `onProgress` gets the pull's events;
   * `onUnpacked` is called as each layer's snapshot is committed.
   */
  async pull(
    reference: string,
    opts: {
      platform?: PlatformSpec;
      onProgress?: (p: PullProgress) => void;
      onUnpacked?: (layer: { index: number; diffId: string; chainId: string }) => void;
      signal?: AbortSignal;
      timeoutMs?: number;
      unpack?: boolean;
    } = {},
  ): Promise<{ record: ImageRecord; previous: ImageRecord | undefined }> {
    const ref = parseReference(reference);
    const previous = await this.images.get(canonical(ref));
    const snaps = opts.unpack === false ? undefined : await this.snapshotter();
    const hook = snaps ? pullUnpacker(snaps, { onLayer: (l) => opts.onUnpacked?.(l) }) : {};
    const po: Parameters<typeof pullImage>[1] = { store: this.content, images: this.images, client: this.client(), ...hook };
    if (opts.platform) po.platform = opts.platform;
    if (opts.onProgress) po.onProgress = opts.onProgress;
    if (opts.signal) po.signal = opts.signal;
    if (opts.timeoutMs !== undefined) po.timeoutMs = opts.timeoutMs;
    const record = await pullImage(ref, po);
    if (snaps && record.diffIds.length > 0) await snaps.settle(chainIds(record.diffIds).at(-1)!);
    return { record, previous };
  }

  /**
   * For `run`/`create --pull always|missing|never`: the image `reference` names, pulled first when
   * the policy asks for it. `never` with no local image is NOT_FOUND with the usual message.
   */
  async ensure(reference: string, policy: 'always' | 'missing' | 'never', pullOpts: Parameters<ImageService['pull']>[1] = {}): Promise<ImageRecord> {
    if (policy !== 'always') {
      try {
        const f = await this.find(reference);
        const rec = f.byName ?? f.records[0]!;
        await this.unpack(rec);
        return rec;
      } catch (err) {
        if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND' || policy === 'never') throw err;
      }
    }
    return (await this.pull(reference, pullOpts)).record;
  }

  /** Make sure every layer of `rec` is unpacked (after load or import); reads layers from the store. */
  async unpack(rec: ImageRecord): Promise<string | undefined> {
    if (rec.layers.length === 0) return undefined;
    const snaps = await this.snapshotter();
    const layers = rec.layers.map((l, i) => ({
      diffId: rec.diffIds[i]!,
      source: async (): Promise<Readable> => {
        const head = Buffer.alloc(4);
        const fh = await fs.promises.open(this.content.blobPath(l.digest), 'r');
        try {
          await fh.read(head, 0, 4, 0);
        } finally {
          await fh.close();
        }
        return Readable.from(uncompressedLayer(this.content, l.digest, sniffCompression(head), rec.diffIds[i]!));
      },
    }));
    const infos = await unpackLayers(snaps, layers);
    return infos.at(-1)?.chainId;
  }

  // ---- remove and prune --------------------------------------------------------------------------

  /**
   * `rmi`: untag `input` (a name), or remove every name of an image given by ID. The image's content
   * and snapshots go when no name is left. Refused when a container uses the image (unless force),
   * or when an ID names an image with several repositories (unless force).
   */
  async remove(input: string, force = false): Promise<{ untagged: string[]; deleted: string | undefined }> {
    const found = await this.find(input);
    let targets: ImageRecord[];
    if (found.byName) targets = [found.byName];
    else {
      targets = found.records;
      const repos = new Set(targets.map((r) => repoOf(r.name)));
      if (repos.size > 1 && !force) {
        throw new BerthError(
          'FAILED_PRECONDITION',
          `conflict: unable to delete ${found.id.slice(7, 19)} (must be forced): the image is referenced in multiple repositories (${targets.map((t) => displayName(t.name)).join(', ')}); remove the names one by one or use -f`,
        );
      }
    }
    const remaining = found.records.filter((r) => !targets.includes(r));
    if (remaining.length === 0 && !force) {
      const users = await this.imageUsers(found.id);
      if (users.length > 0) {
        throw new BerthError(
          'FAILED_PRECONDITION',
          `conflict: unable to remove ${displayName(targets[0]!.name)}: image ${found.id.slice(7, 19)} is in use by container ${users.join(', ')}; remove the container first or use -f`,
        );
      }
    }
    const untagged: string[] = [];
    for (const t of targets) {
      if (await this.images.delete(t.name)) untagged.push(t.name);
    }
    if (remaining.length > 0) return { untagged, deleted: undefined };
    await this.cleanup();
    return { untagged, deleted: found.id };
  }

  /**
   * Remove snapshots no image uses (top layers first; layers a container builds on stay) and blobs
   * no image references. Returns what was freed.
   */
  async cleanup(): Promise<{ blobs: string[]; bytes: number; layers: string[] }> {
    const layers: string[] = [];
    const snaps = fs.existsSync(path.join(this.root, 'snapshots')) ? await this.snapshotter() : undefined;
    if (snaps) {
      const keep = new Set<string>();
      for (const r of await this.images.list()) for (const c of chainIds(r.diffIds)) keep.add(c);
      // Layers of pulls and imports in progress (no image record yet): their blobs are leased, and
      // a leased layer blob carries its verified diff_id as a label once downloaded.
      const busyDiffIds = new Set<string>();
      for (const d of await leasedDigests(this.content.root)) {
        const diff = (await this.content.getLabels(d).catch(() => ({}) as Record<string, string>))['berth.uncompressed'];
        if (diff) busyDiffIds.add(diff);
      }
      // repeat: removing a top layer frees its parent
      for (let pass = 0; pass < 1000; pass++) {
        const committed = (await snaps.list()).flatMap((s) => (s.kind === 'committed' ? [s] : []));
        const parents = new Set((await snaps.list()).map((s) => s.parent).filter((p): p is string => p !== undefined));
        const victims = committed.filter((s) => !keep.has(s.chainId) && !parents.has(s.chainId) && !busyDiffIds.has(s.diffId));
        let removed = 0;
        for (const v of victims) {
          try {
            await snaps.removeLayer(v.chainId);
            layers.push(v.chainId);
            removed++;
          } catch (err) {
            if (!(err instanceof BerthError) || (err.code !== 'FAILED_PRECONDITION' && err.code !== 'NOT_FOUND')) throw err;
          }
        }
        if (removed === 0) break;
      }
    }
    const gc = await garbageCollect(this.content, this.images);
    return { blobs: gc.removed, bytes: gc.bytesFreed, layers };
  }

  /**
   * `image prune`: without `all`, only what no image name holds (content left behind when a tag
   * moved or was removed: docker's dangling images); with `all`, also every image no container uses.
   */
  async prune(all: boolean): Promise<{ untagged: string[]; deleted: string[]; bytes: number; layers: string[] }> {
    const untagged: string[] = [];
    const deleted = new Set<string>();
    if (all) {
      for (const r of await this.images.list()) {
        const id = imageId(r);
        if ((await this.imageUsers(id)).length > 0) continue;
        if (await this.images.delete(r.name)) {
          untagged.push(r.name);
          deleted.add(id);
        }
      }
    }
    const c = await this.cleanup();
    return { untagged, deleted: [...deleted], bytes: c.bytes, layers: c.layers };
  }

  /** `tag SRC DST`: a new name for the image SRC names. */
  async tag(source: string, target: string): Promise<ImageRecord> {
    const found = await this.find(source);
    const src = found.byName ?? found.records[0]!;
    const ref = parseReference(target);
    if (ref.digest !== undefined) throw new BerthError('INVALID_ARGUMENT', `invalid tag ${JSON.stringify(target)}: a tag cannot carry a digest`);
    const { createdAt: _c, updatedAt: _u, ...rest } = src;
    void _c;
    void _u;
    return this.images.put({ ...rest, name: canonical(ref) });
  }
}

function repoOf(name: string): string {
  try {
    return repositoryName(parseReference(name));
  } catch {
    return name;
  }
}

/** The short name people use ("busybox:latest") for a stored canonical name. */
export function displayName(name: string): string {
  try {
    return familiar(parseReference(name));
  } catch {
    return name;
  }
}

/** `image "foo:latest" not found locally; try: berth pull foo:latest` (or a plain one for IDs). */
export function notFoundMessage(input: string): string {
  try {
    const ref = parseReference(input);
    const shown = displayName(canonical(ref));
    return `image ${JSON.stringify(shown)} not found locally; try: berth pull ${shown}`;
  } catch {
    return `image ${JSON.stringify(input)} not found locally (no image has that name or ID); see: berth images`;
  }
}
