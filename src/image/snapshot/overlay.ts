/**
 * Whether overlayfs works here, for this store: listed in /proc/filesystems (or loadable), and a
 * trial mount in the store's own directory with a char-device whiteout and an opaque directory
 * shows the expected merged view. Anything else (no overlay, a backing filesystem overlay refuses,
 * no mknod) means the copying snapshotter.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { runSpecialOps } from '../unpack/special';
import { doMount, doUnmount } from './mount';

export async function overlayListed(): Promise<boolean> {
  try {
    return /\toverlay$/m.test(await fsp.readFile('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

export async function probeOverlay(dir: string): Promise<{ ok: boolean; reason?: string }> {
  const base = path.join(dir, `tmp-${process.pid}-probe-${randomBytes(4).toString('hex')}`);
  const merged = path.join(base, 'm');
  let mounted = false;
  try {
    for (const d of ['l1', 'l2', 'u', 'w', 'm', 'l2/o']) await fsp.mkdir(path.join(base, d), { recursive: true });
    await fsp.writeFile(path.join(base, 'l1/a'), 'a');
    await fsp.writeFile(path.join(base, 'l1/b'), 'b');
    await fsp.mkdir(path.join(base, 'l1/o'));
    await fsp.writeFile(path.join(base, 'l1/o/hidden'), 'h');
    const failed = await runSpecialOps([
      { op: 'mknod', path: path.join(base, 'l2/b'), kind: 'c', major: 0, minor: 0, mode: 0 },
      { op: 'xattr', path: path.join(base, 'l2/o'), name: 'trusted.overlay.opaque', value: Buffer.from('y') },
    ]);
    if (failed.length > 0) return { ok: false, reason: failed.map((f) => f.message).join('; ') };
    await doMount({ type: 'overlay', source: 'overlay', options: ['lowerdir=l2:l1', 'upperdir=u', 'workdir=w'] }, merged, base);
    mounted = true;
    const names = (await fsp.readdir(merged)).sort().join(',');
    const inO = (await fsp.readdir(path.join(merged, 'o'))).join(',');
    if (names !== 'a,o' || inO !== '') return { ok: false, reason: `trial overlay shows ${names} / o:${inO}` };
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  } finally {
    if (mounted) await doUnmount(merged).catch(() => undefined);
    await fsp.rm(base, { recursive: true, force: true }).catch(() => undefined);
  }
}
