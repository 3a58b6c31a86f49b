/**
 * How Berth's image records map to CRI's Image message, as plain data: id = config digest, repo_tags
 * = the tag names of the records sharing that id, repo_digests = repository@<target digest> (the
 * digest a user pulls by: the index for multi-platform images, else the manifest), size = what the
 * image occupies in the content store (manifest + config + compressed layers, as containerd counts
 * it), uid/username from the config's User.
 */
import type { ImageRecord } from '../image/content';
import { parseReference, repositoryName } from '../image/ref';

export interface ImageIdentity {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Bytes, as a decimal-safe number. */
  size: number;
  /** Numeric user of the config's User ("1000" or "1000:1000"), else null. */
  uid: number | null;
  /** The config's User when it is a name ("nobody", "nobody:nogroup" -> "nobody"), else ''. */
  username: string;
}

/** CRI's uid/username from an image config User field. */
export function userOf(user: string | undefined): { uid: number | null; username: string } {
  const u = (user ?? '').split(':')[0] ?? '';
  if (u === '') return { uid: null, username: '' };
  if (/^\d+$/.test(u)) return { uid: Number(u), username: '' };
  return { uid: null, username: u };
}

/** Group records by image id (config digest), keeping the order of first appearance. */
export function groupById(records: readonly ImageRecord[]): Map<string, ImageRecord[]> {
  const out = new Map<string, ImageRecord[]>();
  for (const r of records) {
    const id = r.config.digest;
    const list = out.get(id);
    if (list) list.push(r);
    else out.set(id, [r]);
  }
  return out;
}

/** The CRI identity of one image from every record that shares its id. */
export function imageIdentity(records: readonly ImageRecord[], configUser: string | undefined): ImageIdentity {
  const first = records[0];
  if (first === undefined) throw new Error('imageIdentity: no records');
  const tags = new Set<string>();
  const digests = new Set<string>();
  for (const r of records) {
    let repo: string;
    let isDigestRef = false;
    try {
      const ref = parseReference(r.name);
      repo = repositoryName(ref);
      isDigestRef = ref.digest !== undefined && ref.tag === undefined;
    } catch {
      continue;
    }
    if (!isDigestRef) tags.add(r.name);
    digests.add(`${repo}@${r.target.digest}`);
  }
  const size = first.manifest.size + first.config.size + first.layers.reduce((n, l) => n + l.size, 0);
  return { id: first.config.digest, repoTags: [...tags].sort(), repoDigests: [...digests].sort(), size, ...userOf(configUser) };
}
