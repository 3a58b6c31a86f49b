/**
 * Pull an image: reference -> manifest or index -> this platform's manifest -> config + layers, into
 * the content store, then record the image. See README.md in this directory for the layer stream hook.
 */
import { PassThrough, type Readable } from 'node:stream';
import { BerthError } from '../../runtime/errors';
import { canonical, manifestReference, parseReference, type Reference } from '../ref/reference';
import { ContentStore, DigestMismatchError, type Ingest } from '../content/store';
import { ImageStore, type ImageRecord } from '../content/images';
import { createLease, type Lease } from '../content/gc';
import { parseImageConfig, parseManifest } from '../manifest/parse';
import { hostPlatform, selectManifest, type PlatformSpec } from '../manifest/platform';
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from '../manifest/types';
import { RegistryClient, type OperationOptions, type RepositoryName } from '../registry/client';
import { LayerDecoder, chainIds } from './decode';

export type PullItemKind = 'index' | 'manifest' | 'config' | 'layer';
export type PullItemState =
  | 'resolving' // fetching the manifest
  | 'waiting' // another pull (this or another process) is downloading this blob
  | 'downloading'
  | 'verifying'
  | 'exists' // already in the content store
  | 'done'
  | 'error';

export interface PullProgress {
  kind: PullItemKind;
  /** Blob digest (or the reference while resolving). */
  id: string;
  /** Layer position, for layers. */
  index?: number;
  state: PullItemState;
  /** Compressed bytes done / total. */
  current: number;
  total: number;
  error?: string;
}

/** What the layer hook is told about a layer. */
export interface PullLayerInfo {
  index: number;
  descriptor: Descriptor;
  /** Uncompressed digest from the config's rootfs.diff_ids. */
  diffId: string;
  /** OCI chain ID of the layer stack up to and including this layer. */
  chainId: string;
  /** Chain ID of the parent stack (undefined for the first layer). */
  parentChainId?: string;
}

export interface PullOptions extends OperationOptions {
  store: ContentStore;
  images: ImageStore;
  /** A shared client (token cache, download limit); created from hostsDir/credentials otherwise. */
  client?: RegistryClient;
  platform?: PlatformSpec;
  onProgress?: (p: PullProgress) => void;
  /**
   * Receive each layer's uncompressed tar as it arrives (see README.md). The stream ends normally only
   * after the layer's compressed digest and its diff_id have been verified; on any failure it is
   * destroyed with the error, and the consumer must discard what it extracted. The pull waits for
   * the returned promises and fails if one rejects.
   */
  onLayerStream?: (layer: PullLayerInfo, tar: Readable) => Promise<void>;
  /** Whether onLayerStream wants this layer (e.g. no snapshot for its chain ID yet). Default: yes. */
  wantLayerStream?: (layer: PullLayerInfo) => boolean | Promise<boolean>;
  /** Overall time limit for the pull (ms), converted to a deadline. */
  timeoutMs?: number;
  /** Name to record the image under instead of the canonical reference. */
  recordName?: string;
}

const UNCOMPRESSED_LABEL = 'berth.uncompressed';
const CONFIG_TYPES: readonly string[] = [MediaType.OciConfig, MediaType.DockerConfig];

function throttle(fn: ((p: PullProgress) => void) | undefined): (p: PullProgress, force?: boolean) => void {
  const last = new Map<string, number>();
  return (p, force = false) => {
    if (!fn) return;
    const key = `${p.kind}:${p.id}:${p.index ?? ''}`;
    const now = Date.now();
    if (!force && p.state === 'downloading' && now - (last.get(key) ?? 0) < 100) return;
    last.set(key, now);
    try {
      fn(p);
    } catch {
      /* a progress display must not break the pull */
    }
  };
}

/** Download `desc` into the store (resuming an earlier ingest) unless present. Returns true if downloaded. */
async function fetchIntoStore(
  client: RegistryClient,
  store: ContentStore,
  repo: RepositoryName,
  desc: Descriptor,
  op: OperationOptions,
  hooks: {
    onWait?: () => void;
    onBytes?: (done: number) => void;
    /** Sees every byte in order, from 0 (including bytes resumed from disk). */
    onChunk?: (c: Buffer) => Promise<void>;
    /** Called after all bytes arrived, before commit (throw to refuse the blob). */
    beforeCommit?: () => Promise<void>;
    /** Awaited just before queueing for a download slot. */
    waitTurn?: () => Promise<void>;
    /** Called right after queueing for a download slot. */
    tookTurn?: () => void;
  } = {},
): Promise<boolean> {
  const opts: { onWait?: () => void; signal?: AbortSignal } = {};
  if (hooks.onWait) opts.onWait = hooks.onWait;
  if (op.signal) opts.signal = op.signal;
  const ing: Ingest | undefined = await store.openIngest({ digest: desc.digest, size: desc.size }, opts);
  if (!ing) return false;
  try {
    await ing.resume(hooks.onChunk);
    hooks.onBytes?.(ing.offset);
    await hooks.waitTurn?.();
    const fetching = client.fetchBlob(repo, desc, {
      get offset() {
        return ing.offset;
      },
      async write(chunk: Buffer) {
        await ing.write(chunk);
        if (hooks.onChunk) await hooks.onChunk(chunk);
        hooks.onBytes?.(ing.offset);
      },
    }, op);
    hooks.tookTurn?.();
    await fetching;
    if (hooks.beforeCommit) await hooks.beforeCommit();
    await ing.commit();
    return true;
  } catch (err) {
    if (err instanceof DigestMismatchError) await ing.close(true);
    throw err;
  } finally {
    await ing.close();
  }
}

async function readSmallBlob(client: RegistryClient, store: ContentStore, repo: RepositoryName, desc: Descriptor, op: OperationOptions): Promise<Buffer> {
  if (desc.size > 16 * 1024 * 1024) throw new BerthError('INVALID_ARGUMENT', `blob ${desc.digest} (${desc.mediaType}) is implausibly large: ${desc.size} bytes`);
  await fetchIntoStore(client, store, repo, desc, op);
  return store.readBlob(desc.digest);
}

async function feedFromStore(store: ContentStore, digest: string, onChunk: (c: Buffer) => Promise<void>): Promise<void> {
  const rs = store.createReadStream(digest);
  for await (const c of rs as AsyncIterable<Buffer>) await onChunk(c);
}

/**
 * Pull `reference` into `opts.store` and record it in `opts.images`. Returns the image record.
 */
export async function pullImage(reference: string | Reference, opts: PullOptions): Promise<ImageRecord> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const client = opts.client ?? new RegistryClient();
  const store = opts.store;
  const progress = throttle(opts.onProgress);
  const repo: RepositoryName = { domain: ref.domain, path: ref.path };
  const abort = new AbortController();
  const outer = opts.signal;
  const onOuterAbort = (): void => abort.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  const op: OperationOptions = { signal: abort.signal };
  const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : opts.deadline;
  if (deadline !== undefined) op.deadline = deadline;
  let deadlineTimer: NodeJS.Timeout | undefined;
  if (deadline !== undefined) {
    deadlineTimer = setTimeout(() => abort.abort(new BerthError('TIMEOUT', `pull of ${canonical(ref)}: deadline exceeded`)), Math.max(0, deadline - Date.now()));
  }
  // One listener on the shared signal fans out to every layer (a listener per layer, plus the
  // client's per-request ones, passed the default limit of 10: MaxListenersExceededWarning).
  const onAbortAll = new Set<() => void>();
  abort.signal.addEventListener('abort', () => {
    for (const fn of [...onAbortAll]) fn();
  }, { once: true });
  const aborted = new Promise<never>((_, reject) => {
    onAbortAll.add(() => reject(abort.signal.reason instanceof Error ? abort.signal.reason : new BerthError('TIMEOUT', 'pull aborted')));
  });
  aborted.catch(() => undefined);
  const want = opts.platform ?? hostPlatform();
  let lease: Lease | undefined;
  try {
    lease = await createLease(store.root);
    // 1. the manifest or index the reference names
    progress({ kind: 'manifest', id: canonical(ref), state: 'resolving', current: 0, total: 0 }, true);
    const top = await client.fetchManifest(repo, manifestReference(ref), op);
    const parsedTop = parseManifest(top.bytes, top.mediaType);
    const target: Descriptor = { mediaType: parsedTop.mediaType, digest: top.digest, size: top.bytes.length };
    await lease.add([target.digest]);
    await store.putBlob(top.bytes, target);
    let manifestDesc = target;
    let manifest: ImageManifest;
    let platform: Platform | undefined;
    if (parsedTop.kind === 'index') {
      progress({ kind: 'index', id: target.digest, state: 'done', current: target.size, total: target.size }, true);
      const chosen = selectManifest(parsedTop.index, want);
      manifestDesc = { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
      if (chosen.platform) platform = chosen.platform;
      await lease.add([chosen.digest]);
      let bytes: Buffer;
      if (await store.has(chosen.digest)) bytes = await store.readBlob(chosen.digest);
      else {
        const m = await client.fetchManifest(repo, chosen.digest, op);
        if (m.bytes.length !== chosen.size) throw new DigestMismatchError(`manifest ${chosen.digest}: size ${m.bytes.length}, index says ${chosen.size}`);
        bytes = m.bytes;
        await store.putBlob(bytes, chosen);
      }
      const p = parseManifest(bytes, chosen.mediaType);
      if (p.kind !== 'manifest') throw new BerthError('INVALID_ARGUMENT', `index entry ${chosen.digest} is not an image manifest`);
      manifest = p.manifest;
    } else {
      manifest = parsedTop.manifest;
    }
    progress({ kind: 'manifest', id: manifestDesc.digest, state: 'done', current: manifestDesc.size, total: manifestDesc.size }, true);
    if (!CONFIG_TYPES.includes(manifest.config.mediaType)) {
      throw new BerthError('UNSUPPORTED', `${canonical(ref)} is not a container image (config media type ${manifest.config.mediaType})`);
    }

    // 2. config
    await lease.add([manifest.config.digest, ...manifest.layers.map((l) => l.digest)]);
    progress({ kind: 'config', id: manifest.config.digest, state: 'downloading', current: 0, total: manifest.config.size }, true);
    const config: ImageConfig = parseImageConfig(await readSmallBlob(client, store, repo, manifest.config, op));
    progress({ kind: 'config', id: manifest.config.digest, state: 'done', current: manifest.config.size, total: manifest.config.size }, true);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new BerthError('INVALID_ARGUMENT', `image config has ${diffIds.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
    }
    platform ??= { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
    const chains = chainIds(diffIds);

    // 3. layers, in parallel (the client bounds concurrent downloads)
    // Layers queue for download slots in manifest order (each waits until the previous one has
    // queued or finished), so a consumer that reads layer streams in order cannot be starved by
    // later layers holding every slot.
    const turns = manifest.layers.map(() => {
      let pass!: () => void;
      const queued = new Promise<void>((resolve) => (pass = resolve));
      return { queued, pass };
    });
    let firstFailure: { err: unknown } | undefined;
    const layerTasks = manifest.layers.map((desc, index) => {
      const info: PullLayerInfo = { index, descriptor: desc, diffId: diffIds[index]!, chainId: chains[index]! };
      if (index > 0) info.parentChainId = chains[index - 1]!;
      const turn = { wait: index > 0 ? () => turns[index - 1]!.queued : async () => undefined, pass: turns[index]!.pass };
      return pullLayer(info, turn).catch((err: unknown) => {
        // the first failure is the cause; the others are mostly "aborted" because of it
        firstFailure ??= { err };
        abort.abort(err);
        progress({ kind: 'layer', id: desc.digest, index, state: 'error', current: 0, total: desc.size, error: (err as Error).message }, true);
        throw err;
      });
    });
    await Promise.allSettled(layerTasks);
    if (firstFailure) throw firstFailure.err;

    // 4. record
    const rec = await opts.images.put({
      name: opts.recordName ?? canonical(ref),
      target,
      manifest: manifestDesc,
      config: manifest.config,
      layers: manifest.layers,
      diffIds,
      platform,
    });
    return rec;
  } catch (err) {
    if (abort.signal.aborted && abort.signal.reason instanceof BerthError && abort.signal.reason.code === 'TIMEOUT') throw abort.signal.reason;
    throw err;
  } finally {
    if (deadlineTimer) clearTimeout(deadlineTimer);
    outer?.removeEventListener('abort', onOuterAbort);
    await lease?.release();
  }

  async function pullLayer(layer: PullLayerInfo, turn: { wait: () => Promise<void>; pass: () => void }): Promise<void> {
    const desc = layer.descriptor;
    const base = { kind: 'layer' as const, id: desc.digest, index: layer.index, total: desc.size };
    let out: PassThrough | undefined;
    let consumer: Promise<void> | undefined;
    let consumerError: unknown;
    const onAbort = (): void => {
      const r: unknown = abort.signal.reason;
      out?.destroy(r instanceof Error ? r : new BerthError('TIMEOUT', `pull of ${canonical(ref)} aborted`));
    };
    // The layer's own signal, fed by the fan-out: the client's per-request listeners for this
    // layer go there, not onto the signal every layer shares.
    const layerAbort = new AbortController();
    const onLayerAbort = (): void => layerAbort.abort(abort.signal.reason);
    if (abort.signal.aborted) onLayerAbort();
    else onAbortAll.add(onLayerAbort);
    const layerOp: OperationOptions = { ...op, signal: layerAbort.signal };
    const mismatch = (diff: string): DigestMismatchError =>
      new DigestMismatchError(`layer ${layer.index} (${desc.digest}): uncompressed digest ${diff} does not match the config's diff_id ${layer.diffId}`);
    try {
      const wantStream = opts.onLayerStream !== undefined && (await (opts.wantLayerStream?.(layer) ?? true));
      if (wantStream) {
        const stream = new PassThrough({ highWaterMark: 1 << 20 });
        stream.on('error', () => undefined); // the consumer sees errors through its reads
        out = stream;
        consumer = opts.onLayerStream!(layer, stream).catch((err: unknown) => {
          consumerError = err;
          stream.destroy(err instanceof Error ? err : new Error(String(err)));
          throw err;
        });
        consumer.catch(() => undefined);
      }
      // An abort (deadline, another layer failed) must also free a layer blocked on its consumer.
      if (out) onAbortAll.add(onAbort);
      const verified = (await store.getLabels(desc.digest).catch(() => ({}) as Record<string, string>))[UNCOMPRESSED_LABEL] === layer.diffId;
      let decoder = new LayerDecoder(out);
      const downloaded = await fetchIntoStore(client, store, repo, desc, layerOp, {
        onWait: () => progress({ ...base, state: 'waiting', current: 0 }, true),
        onBytes: (n) => progress({ ...base, state: 'downloading', current: n }),
        onChunk: (c) => decoder.push(c),
        waitTurn: turn.wait,
        tookTurn: turn.pass,
        beforeCommit: async () => {
          progress({ ...base, state: 'verifying', current: desc.size }, true);
          const diff = await decoder.finish();
          if (diff !== layer.diffId) throw mismatch(diff);
        },
      });
      turn.pass();
      if (downloaded) {
        await store.setLabel(desc.digest, UNCOMPRESSED_LABEL, layer.diffId);
        progress({ ...base, state: 'done', current: desc.size }, true);
      } else {
        // Present already (maybe just committed by a concurrent pull): stream and verify from the store.
        progress({ ...base, state: 'exists', current: desc.size }, true);
        if (out || !verified) {
          decoder.destroy();
          decoder = new LayerDecoder(out);
          await feedFromStore(store, desc.digest, (c) => decoder.push(c));
          const diff = await decoder.finish();
          if (diff !== layer.diffId) throw mismatch(diff);
          if (!verified) await store.setLabel(desc.digest, UNCOMPRESSED_LABEL, layer.diffId);
        }
      }
      if (consumerError !== undefined) throw consumerError;
      out?.end();
    } catch (err) {
      out?.destroy(err instanceof Error ? err : new Error(String(err)));
      throw consumerError ?? err;
    } finally {
      onAbortAll.delete(onAbort);
      onAbortAll.delete(onLayerAbort);
      turn.pass(); // never leave later layers waiting
    }
    if (consumer) await Promise.race([consumer, aborted]);
  }
}
