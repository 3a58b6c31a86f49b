/**
 * `berth load`: import whichever format the input holds. A path is detected first (an OCI layout
 * directory then reads only the blobs its images reference); a stream is read once, collecting what
 * either format needs, and the format is decided from what it held (oci-layout/index.json: an OCI
 * layout, which includes docker 25+ archives; else manifest.json: a docker-archive).
 */
import { BerthError } from '../../runtime/errors';
import { detectArchiveFormat } from './detect';
import { finishDocker, importDockerArchive } from './docker';
import { finishOci, importOciLayout } from './oci';
import { collect } from './collect';
import { ArchiveFormatError, members, resolveSource, type ArchiveSource } from './members';
import { ImportSession, type ArchiveStores } from './session';
import { DEFAULT_MAX_METADATA, type ImportOptions, type ImportResult } from './common';

export async function importArchive(stores: ArchiveStores, src: ArchiveSource, opts: ImportOptions = {}): Promise<ImportResult> {
  if (typeof src === 'string' || 'dir' in src || 'tarPath' in src) {
    const p = typeof src === 'string' ? src : 'dir' in src ? src.dir : src.tarPath;
    const d = await detectArchiveFormat(p);
    const s = d.container === 'dir' ? { dir: p } : { tarPath: p };
    return d.format === 'oci-layout' ? importOciLayout(stores, s, opts) : importDockerArchive(stores, s, opts);
  }
  const source = await resolveSource(src);
  if (source.kind !== 'tar') throw new BerthError('INTERNAL', 'a stream source resolved to a directory');
  const session = await ImportSession.open(stores);
  try {
    const c = await collect(session, members(source), opts.maxMetadataSize ?? DEFAULT_MAX_METADATA, 'any', opts);
    if (c.layout !== undefined || c.index !== undefined) return await finishOci(session, c, opts, source);
    if (c.manifest !== undefined) return await finishDocker(session, c, opts, source);
    throw new ArchiveFormatError('the input is neither an OCI image layout (oci-layout, index.json) nor a docker-archive (manifest.json)');
  } finally {
    await session.close();
  }
}
