/**
 * Test fixture: layer tars built in memory. Ordinary entries go through tar-stream's pack; entries
 * pack cannot express (binary PAX values such as security.capability, GNU sparse 1.0, absurd size
 * fields) are encoded here by hand, block by block.
 */
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';

export type LayerEntry =
  | { type: 'file'; name: string; data?: string | Buffer; mode?: number; uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, Buffer | string> }
  | { type: 'dir'; name: string; mode?: number; uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, Buffer | string> }
  | { type: 'symlink'; name: string; target: string; uid?: number; gid?: number; mtime?: number }
  | { type: 'link'; name: string; target: string }
  | { type: 'char' | 'block'; name: string; major: number; minor: number; mode?: number; uid?: number; gid?: number }
  | { type: 'fifo'; name: string; mode?: number }
  /** `.wh.<base>` next to `name`. */
  | { type: 'whiteout'; name: string }
  /** `<dir>/.wh..wh..opq`. */
  | { type: 'opaque'; dir: string }
  /** GNU sparse format 1.0 in PAX: data segments at offsets, holes elsewhere. */
  | { type: 'sparse'; name: string; realSize: number; segments: Array<[number, Buffer]>; mode?: number }
  /** A header with any size field (the data that follows is `data`, unpadded sizes allowed). */
  | { type: 'raw'; name: string; size: number; data?: Buffer; typeflag?: string };

const DEFAULT_MTIME = 1_700_000_000;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, '0');
  buf.write(s.slice(-(len - 1)), off, 'latin1');
  buf[off + len - 1] = 0;
}

/** Encodes one ustar header block by hand. `size` above 8 GiB uses the base-256 form. */
export function rawHeader(h: { name: string; size: number; typeflag?: string; mode?: number; mtime?: number; linkname?: string; uid?: number; gid?: number }): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name.slice(0, 100), 0, 'utf8');
  octal(b, 100, 8, h.mode ?? 0o644);
  octal(b, 108, 8, h.uid ?? 0);
  octal(b, 116, 8, h.gid ?? 0);
  if (h.size < 8 * 2 ** 30) octal(b, 124, 12, h.size);
  else {
    b[124] = 0x80;
    let n = h.size;
    for (let i = 135; i > 124; i--) {
      b[i] = n % 256;
      n = Math.floor(n / 256);
    }
  }
  octal(b, 136, 12, h.mtime ?? DEFAULT_MTIME);
  b.write(h.typeflag ?? '0', 156, 'latin1');
  if (h.linkname) b.write(h.linkname.slice(0, 100), 157, 'utf8');
  b.write('ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0'), 148, 'latin1');
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

function pad(data: Buffer): Buffer {
  const rem = data.length % 512;
  return rem === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rem)]);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A PAX header block (typeflag x) carrying binary-safe records. */
export function paxBlock(records: Array<[string, Buffer | string]>): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, typeof v === 'string' ? Buffer.from(v) : v)));
  return Buffer.concat([rawHeader({ name: 'PaxHeaders/x', size: body.length, typeflag: 'x' }), pad(body)]);
}

async function packOne(header: tar.Header | Partial<tar.Header> & { name: string }, data?: Buffer): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    p.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  if (data || header.type === 'file') p.entry(header, data ?? Buffer.alloc(0));
  else p.entry(header);
  p.finalize();
  await done;
  const all = Buffer.concat(chunks);
  return all.subarray(0, all.length - 1024); // without the end-of-archive blocks
}

function basePath(name: string): [string, string] {
  const clean = name.replace(/\/+$/, '');
  const i = clean.lastIndexOf('/');
  return i < 0 ? ['', clean] : [clean.slice(0, i + 1), clean.slice(i + 1)];
}

async function encodeEntry(e: LayerEntry): Promise<Buffer> {
  const mtime = new Date(((('mtime' in e && e.mtime) || DEFAULT_MTIME) as number) * 1000);
  switch (e.type) {
    case 'file': {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data ?? Buffer.alloc(0);
      if (e.xattrs) {
        const recs: Array<[string, Buffer | string]> = Object.entries(e.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v]);
        recs.push(['path', e.name]);
        const h = rawHeader({ name: 'x', size: data.length, mode: e.mode ?? 0o644, mtime: e.mtime, uid: e.uid, gid: e.gid });
        return Buffer.concat([paxBlock(recs), h, pad(data)]);
      }
      return packOne({ name: e.name, type: 'file', mode: e.mode ?? 0o644, uid: e.uid, gid: e.gid, mtime }, data);
    }
    case 'dir':
      if (e.xattrs) {
        const recs: Array<[string, Buffer | string]> = Object.entries(e.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v]);
        recs.push(['path', e.name]);
        return Buffer.concat([paxBlock(recs), rawHeader({ name: 'x', size: 0, typeflag: '5', mode: e.mode ?? 0o755, mtime: e.mtime, uid: e.uid, gid: e.gid })]);
      }
      return packOne({ name: e.name, type: 'directory', mode: e.mode ?? 0o755, uid: e.uid, gid: e.gid, mtime });
    case 'symlink':
      return packOne({ name: e.name, type: 'symlink', linkname: e.target, mode: 0o777, uid: e.uid, gid: e.gid, mtime });
    case 'link':
      return packOne({ name: e.name, type: 'link', linkname: e.target, mtime });
    case 'char':
    case 'block':
      return packOne({
        name: e.name,
        type: e.type === 'char' ? 'character-device' : 'block-device',
        devmajor: e.major,
        devminor: e.minor,
        mode: e.mode ?? 0o666,
        uid: e.uid,
        gid: e.gid,
        mtime,
      });
    case 'fifo':
      return packOne({ name: e.name, type: 'fifo', mode: e.mode ?? 0o644, mtime });
    case 'whiteout': {
      const [dir, base] = basePath(e.name);
      return packOne({ name: `${dir}.wh.${base}`, type: 'file', mode: 0o644, mtime });
    }
    case 'opaque':
      return packOne({ name: `${e.dir.replace(/\/+$/, '')}/.wh..wh..opq`, type: 'file', mode: 0o644, mtime });
    case 'sparse': {
      const lines = [String(e.segments.length)];
      for (const [off, data] of e.segments) lines.push(String(off), String(data.length));
      const map = pad(Buffer.from(`${lines.join('\n')}\n`));
      const body = Buffer.concat([map, ...e.segments.map(([, d]) => d)]);
      const [dir, base] = basePath(e.name);
      const pax = paxBlock([
        ['GNU.sparse.major', '1'],
        ['GNU.sparse.minor', '0'],
        ['GNU.sparse.name', e.name],
        ['GNU.sparse.realsize', String(e.realSize)],
        ['path', `${dir}GNUSparseFile.0/${base}`],
      ]);
      return Buffer.concat([pax, rawHeader({ name: 'sparse', size: body.length, mode: e.mode ?? 0o644 }), pad(body)]);
    }
    case 'raw':
      return Buffer.concat([rawHeader({ name: e.name, size: e.size, typeflag: e.typeflag }), e.data ? pad(e.data) : Buffer.alloc(0)]);
  }
}

/** The bytes of a complete layer tar (with end-of-archive blocks). */
export async function buildLayer(entries: readonly LayerEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) parts.push(await encodeEntry(e));
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A Readable of `buf` in chunks of `chunk` bytes (exercises entries split across reads). */
export function streamOf(buf: Buffer, chunk = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts);
}

/** Builds a layer and returns it as a stream. */
export async function layerStream(entries: readonly LayerEntry[], chunk?: number): Promise<Readable> {
  return streamOf(await buildLayer(entries), chunk);
}
