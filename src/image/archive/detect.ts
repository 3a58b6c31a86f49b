/**
 * Which archive format a path holds: an OCI image layout or a docker-archive, as a directory or a tar
 * (plain, gzip or zstd). A docker 25+ `docker save` tar is both; it is reported as an OCI layout
 * (importing it that way keeps docker's own manifest digests).
 *
 * A plain tar is scanned by seeking from header to header (no file data is read); a compressed one is
 * streamed until a deciding member appears.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../../runtime/errors';
import type { LayerCompression } from '../manifest/types';
import { sniffCompression } from '../pull/decode';
import { ArchiveFormatError, safeMemberName, tarMembers, drain } from './members';
import type { ArchiveFormat } from './common';

export interface DetectedArchive {
  format: ArchiveFormat;
  container: 'dir' | 'tar';
  /** Compression of the tar itself ('none' for directories). */
  compression: LayerCompression;
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
}

function numField(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = cstr(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return NaN;
  return parseInt(s, 8);
}

function checksumOk(b: Buffer): boolean {
  const want = numField(b, 148, 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return sum === want;
}

function paxPath(data: Buffer): string | undefined {
  let off = 0;
  let out: string | undefined;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(data.subarray(off, sp).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') out = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/** Top-level member names of a plain tar file, reading only headers. */
async function scanPlainTar(file: string): Promise<Set<string>> {
  const fh = await fs.promises.open(file, 'r');
  const names = new Set<string>();
  try {
    const size = (await fh.stat()).size;
    const h = Buffer.alloc(512);
    let off = 0;
    let nextName: string | undefined;
    while (off + 512 <= size) {
      await fh.read(h, 0, 512, off);
      if (h.every((x) => x === 0)) break;
      if (!checksumOk(h)) throw new ArchiveFormatError(`${file}: not a tar archive (bad header checksum at offset ${off})`);
      const len = numField(h, 124, 12);
      if (!Number.isSafeInteger(len) || len < 0) throw new ArchiveFormatError(`${file}: corrupt tar header at offset ${off}`);
      const type = String.fromCharCode(h[156]!);
      if (type === 'L' || type === 'x') {
        const data = Buffer.alloc(Math.min(len, 1 << 20));
        await fh.read(data, 0, data.length, off + 512);
        nextName = type === 'L' ? cstr(data, 0, data.length) : (paxPath(data) ?? nextName);
      } else if (type !== 'g') {
        let name = cstr(h, 0, 100);
        if (h.subarray(257, 262).toString('latin1') === 'ustar') {
          const prefix = cstr(h, 345, 155);
          if (prefix) name = `${prefix}/${name}`;
        }
        name = nextName ?? name;
        nextName = undefined;
        try {
          names.add(safeMemberName(name));
        } catch {
          /* hostile names are reported by the importer */
        }
      }
      off += 512 + Math.ceil(len / 512) * 512;
    }
    if (off === 0) throw new ArchiveFormatError(`${file}: not a tar archive (empty, or no tar header)`);
  } finally {
    await fh.close();
  }
  return names;
}

function decide(names: Set<string>): ArchiveFormat | undefined {
  if (names.has('oci-layout') || names.has('index.json')) return 'oci-layout';
  if (names.has('manifest.json')) return 'docker-archive';
  return undefined;
}

export async function detectArchiveFormat(p: string): Promise<DetectedArchive> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `${p}: no such file or directory`);
    throw err;
  }
  if (st.isDirectory()) {
    const names = new Set<string>();
    for (const n of ['oci-layout', 'index.json', 'manifest.json']) if (fs.existsSync(path.join(p, n))) names.add(n);
    const format = decide(names);
    if (!format) throw new ArchiveFormatError(`${p}: neither an OCI image layout (oci-layout, index.json) nor a docker-archive (manifest.json)`);
    return { format, container: 'dir', compression: 'none' };
  }
  const head = Buffer.alloc(4);
  const fh = await fs.promises.open(p, 'r');
  let n: number;
  try {
    n = (await fh.read(head, 0, 4, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  if (n === 0) throw new ArchiveFormatError(`${p}: empty file, not an image archive`);
  const compression = sniffCompression(head.subarray(0, n));
  let format: ArchiveFormat | undefined;
  if (compression === 'none') format = decide(await scanPlainTar(p));
  else {
    for await (const m of tarMembers(fs.createReadStream(p))) {
      await drain(m.body);
      const f = decide(new Set([m.name]));
      if (f) {
        format = f;
        break;
      }
    }
  }
  if (!format) throw new ArchiveFormatError(`${p}: a tar archive, but neither an OCI image layout (oci-layout, index.json) nor a docker-archive (manifest.json)`);
  return { format, container: 'tar', compression };
}
