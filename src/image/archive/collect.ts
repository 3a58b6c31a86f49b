/**
 * One pass over an archive's members: metadata files kept in memory (bounded), `blobs/sha256/<hex>`
 * streamed into verified ingests, other files (docker-archive layer tars) staged while hashed, links
 * remembered. What the archive is (OCI layout or docker-archive) can be decided afterwards, which
 * is what a stream of unknown format (`docker save | berth load`) needs.
 */
import { ArchiveFormatError, drain, readSmall, type ArchiveMember } from './members';
import type { ImportSession, StagedFile } from './session';
import { tap, type ArchiveOperationOptions } from './common';

export interface Collected {
  layout?: Buffer;
  index?: Buffer;
  manifest?: Buffer;
  /** Other small *.json members (docker-archive configs) by name. */
  jsons: Map<string, Buffer>;
  /** Staged files (docker-archive layer tars) by name. */
  staged: Map<string, StagedFile>;
  /** Names of blobs/sha256/<hex> members ingested. */
  blobs: Set<string>;
  /** Link name -> target name. */
  links: Map<string, string>;
}

/** 'oci': only oci-layout, index.json and blobs matter; 'any': everything a docker-archive may hold too. */
export type CollectMode = 'oci' | 'any';

const BLOB_NAME = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/;
const LEGACY_SMALL = /(^|\/)(json|VERSION)$|^repositories$/;

export async function collect(
  session: ImportSession,
  members: AsyncIterable<ArchiveMember>,
  maxMeta: number,
  mode: CollectMode,
  opts: ArchiveOperationOptions = {},
): Promise<Collected> {
  const c: Collected = { jsons: new Map(), staged: new Map(), blobs: new Set(), links: new Map() };
  let jsonBytes = 0;
  for await (const raw of members) {
    opts.signal?.throwIfAborted();
    const m: ArchiveMember = raw.type === 'file' ? { ...raw, body: tap(raw.body, raw.name, raw.size, opts) } : raw;
    const b = BLOB_NAME.exec(m.name);
    if (m.type === 'link') {
      if (b) throw new ArchiveFormatError(`blob ${m.name} is a link; image archives hold blobs as files`);
      c.links.set(m.name, m.target!);
      continue;
    }
    if (m.type !== 'file') continue;
    if (m.name === 'oci-layout') c.layout = await readSmall(m, 64 * 1024);
    else if (m.name === 'index.json') c.index = await readSmall(m, maxMeta);
    else if (m.name === 'manifest.json' && mode === 'any') c.manifest = await readSmall(m, maxMeta);
    else if (b) {
      if (b[1] !== 'sha256') {
        await drain(m.body);
        continue;
      }
      if (b[2]!.length !== 64) throw new ArchiveFormatError(`archive member ${m.name} is not named by a sha256 digest`);
      await session.ingest(`sha256:${b[2]}`, m.size, m.body);
      c.blobs.add(m.name);
    } else if (mode === 'oci' || LEGACY_SMALL.test(m.name)) {
      await drain(m.body);
    } else if (m.name.endsWith('.json')) {
      const data = await readSmall(m, maxMeta);
      jsonBytes += data.length;
      if (jsonBytes > 4 * maxMeta) throw new ArchiveFormatError('the archive holds too much metadata');
      c.jsons.set(m.name, data);
    } else {
      c.staged.set(m.name, await session.stage(m.body));
    }
  }
  return c;
}
