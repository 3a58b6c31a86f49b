/**
 * Push an image from the content store to a registry: blobs first (skipping what the registry has),
 * then child manifests by digest, then the top manifest or index under the reference's tag.
 */
import { BerthError } from '../../runtime/errors';
import type { ContentStore } from '../content/store';
import { parseManifest } from '../manifest/parse';
import { isIndexMediaType, isManifestMediaType, type Descriptor } from '../manifest/types';
import { manifestReference, type Reference } from '../ref/reference';
import type { OperationOptions, RegistryClient, RepositoryName } from './client';

export interface PushOptions extends OperationOptions {
  /** Upload blobs in PATCH chunks of this size instead of one PUT. */
  chunkSize?: number;
  /** Try a cross-repository mount from this repository path (same registry) first. */
  mountFrom?: string;
  onBlob?: (digest: string, result: 'exists' | 'mounted' | 'uploaded') => void;
}

async function pushTree(client: RegistryClient, store: ContentStore, repo: RepositoryName, desc: Descriptor, opts: PushOptions): Promise<void> {
  if (isIndexMediaType(desc.mediaType) || isManifestMediaType(desc.mediaType)) {
    const bytes = await store.readBlob(desc.digest);
    const p = parseManifest(bytes, desc.mediaType);
    const children = p.kind === 'index' ? p.index.manifests : [p.manifest.config, ...p.manifest.layers];
    for (const c of children) await pushTree(client, store, repo, c, opts);
    await client.pushManifest(repo, desc.digest, bytes, desc.mediaType, opts);
    return;
  }
  if (!(await store.has(desc.digest))) throw new BerthError('NOT_FOUND', `blob ${desc.digest} is not in the content store`);
  const blobOpts: { chunkSize?: number; mountFrom?: string } & OperationOptions = { ...opts };
  const r = await client.pushBlob(repo, desc, store.blobPath(desc.digest), blobOpts);
  opts.onBlob?.(desc.digest, r);
}

/** Push the image rooted at `target` (a manifest or index in `store`) to `ref` (tag or digest). */
export async function pushImage(client: RegistryClient, store: ContentStore, target: Descriptor, ref: Reference, opts: PushOptions = {}): Promise<string> {
  const repo: RepositoryName = { domain: ref.domain, path: ref.path };
  await pushTree(client, store, repo, target, opts);
  const tagOrDigest = manifestReference(ref);
  if (tagOrDigest !== target.digest) {
    const bytes = await store.readBlob(target.digest);
    await client.pushManifest(repo, tagOrDigest, bytes, target.mediaType, opts);
  }
  return target.digest;
}
