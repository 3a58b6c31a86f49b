/**
 * Image summaries (for `images`) and the inspect document (like `docker image inspect`).
 */
import type { ImageRecord } from '../content';
import { familiarName, parseReference, repositoryName, type Reference } from '../ref';
import { contentSize, displayName, imageId, type ImageService } from './service';

function refOf(name: string): Reference | undefined {
  try {
    return parseReference(name);
  } catch {
    return undefined;
  }
}

/** "busybox" for docker.io/library/busybox, "host:5000/a/b" otherwise. */
export function familiarRepository(name: string): string {
  const ref = refOf(name);
  if (!ref) return name;
  return familiarName(ref);
}

export interface ImageSummary {
  Repository: string;
  Tag: string;
  Digest: string;
  ID: string;
  CreatedAt: string;
  Size: number;
  /** Canonical stored name. */
  Name: string;
}

export async function imageSummaries(svc: ImageService): Promise<ImageSummary[]> {
  const out: ImageSummary[] = [];
  const created = new Map<string, string>();
  for (const r of await svc.images.list()) {
    const ref = refOf(r.name);
    const id = imageId(r);
    if (!created.has(id)) created.set(id, (await svc.config(r).catch(() => undefined))?.created ?? r.createdAt);
    out.push({
      Repository: ref ? familiarRepository(r.name) : r.name,
      Tag: ref?.tag ?? '<none>',
      Digest: ref?.digest ?? r.target.digest,
      ID: id,
      CreatedAt: created.get(id)!,
      Size: contentSize(r),
      Name: r.name,
    });
  }
  // newest first, like docker
  return out.sort((a, b) => (Date.parse(b.CreatedAt) || 0) - (Date.parse(a.CreatedAt) || 0) || a.Name.localeCompare(b.Name));
}

/** Does a stored name match a `berth images` filter argument ("busybox", "busybox:1", "quay.io/x/*")? */
export function matchesReference(name: string, pattern: string): boolean {
  const ref = refOf(name);
  if (!ref) return name === pattern;
  const slash = pattern.lastIndexOf('/');
  const colon = pattern.lastIndexOf(':');
  const tag = colon > slash ? pattern.slice(colon + 1) : undefined;
  const repo = colon > slash ? pattern.slice(0, colon) : pattern;
  if (tag !== undefined && !glob(tag).test(ref.tag ?? '')) return false;
  if (repo.includes('*') || repo.includes('?')) {
    const re = glob(repo);
    return re.test(familiarRepository(name)) || re.test(repositoryName(ref));
  }
  const want = refOf(repo);
  return want !== undefined && repositoryName(want) === repositoryName(ref);
}

function glob(p: string): RegExp {
  return new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Author: string;
  Architecture: string;
  Variant?: string;
  Os: string;
  Config: Record<string, unknown>;
  RootFS: { Type: string; Layers: string[] };
  Size: number;
  Metadata: { LastTagTime: string };
  Descriptor: { mediaType: string; digest: string; size: number };
  History: unknown[];
}

/** The inspect document for the image `records` (all names of one image) describe. */
export async function inspectImage(svc: ImageService, records: readonly ImageRecord[]): Promise<ImageInspect> {
  const first = records[0]!;
  const cfg = await svc.config(first);
  const tags: string[] = [];
  const digests = new Set<string>();
  for (const r of records) {
    const ref = refOf(r.name);
    if (ref?.tag !== undefined) tags.push(displayName(`${repositoryName(ref)}:${ref.tag}`));
    if (ref) digests.add(`${familiarRepository(r.name)}@${ref.digest ?? r.target.digest}`);
  }
  const out: ImageInspect = {
    Id: imageId(first),
    RepoTags: tags.sort(),
    RepoDigests: [...digests].sort(),
    Created: cfg.created ?? first.createdAt,
    Author: cfg.author ?? '',
    Architecture: cfg.architecture,
    Os: cfg.os,
    Config: (cfg.config ?? {}) as Record<string, unknown>,
    RootFS: { Type: cfg.rootfs.type, Layers: [...cfg.rootfs.diff_ids] },
    Size: contentSize(first),
    Metadata: { LastTagTime: records.map((r) => r.updatedAt).sort().at(-1) ?? '' },
    Descriptor: { mediaType: first.target.mediaType, digest: first.target.digest, size: first.target.size },
    History: cfg.history ?? [],
  };
  if (cfg.variant) out.Variant = cfg.variant;
  return out;
}
