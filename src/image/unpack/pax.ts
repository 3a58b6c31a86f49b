/**
 * PAX extended headers, decoded without losing bytes.
 *
 * tar-stream decodes every PAX value as UTF-8, which destroys binary xattr values such as
 * security.capability. `installRawPax` replaces the PAX decoding of one extract instance so that
 * SCHILY.xattr.* values are kept byte for byte (as latin1 strings; `xattrsOf` turns them into Buffers)
 * and repeated GNU.sparse.offset/numbytes records (sparse format 0.0) are folded into GNU.sparse.map.
 * This relies on tar-stream 3's private `_decodeLongHeader`; when it is absent, the stock decoder is
 * used and binary xattr values may be damaged (a warning is recorded by the caller).
 */
import type { Extract } from 'tar-stream';

export type PaxRecords = Record<string, string>;

const XATTR_PREFIX = 'SCHILY.xattr.';

/** Decodes a PAX extended header block. */
export function decodePax(buf: Buffer): PaxRecords {
  const out: PaxRecords = {};
  const offsets: string[] = [];
  const sizes: string[] = [];
  let pos = 0;
  while (pos < buf.length) {
    let sp = pos;
    while (sp < buf.length && buf[sp] !== 0x20) sp++;
    const len = parseInt(buf.toString('latin1', pos, sp), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > buf.length) break;
    const rec = buf.subarray(sp + 1, pos + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq < 0) break;
    const key = rec.toString('utf8', 0, eq);
    const value = key.startsWith(XATTR_PREFIX) ? rec.toString('latin1', eq + 1) : rec.toString('utf8', eq + 1);
    if (key === 'GNU.sparse.offset') offsets.push(value);
    else if (key === 'GNU.sparse.numbytes') sizes.push(value);
    else out[key] = value;
    pos += len;
  }
  if (offsets.length > 0 && out['GNU.sparse.map'] === undefined) {
    const map: string[] = [];
    for (let i = 0; i < offsets.length; i++) map.push(offsets[i], sizes[i] ?? '0');
    out['GNU.sparse.map'] = map.join(',');
  }
  return out;
}

interface ExtractInternals {
  _decodeLongHeader?: (buf: Buffer) => void;
  _header: { type: string | null } | null;
  _pax: PaxRecords | null;
  _paxGlobal: PaxRecords | null;
}

/** Makes `ex` decode PAX headers with `decodePax`. Returns false when tar-stream's internals differ. */
export function installRawPax(ex: Extract): boolean {
  const inner = ex as unknown as ExtractInternals;
  const original = inner._decodeLongHeader;
  if (typeof original !== 'function') return false;
  inner._decodeLongHeader = function (this: ExtractInternals, buf: Buffer): void {
    const type = this._header?.type;
    if (type === 'pax-header') {
      const rec = decodePax(buf);
      this._pax = this._paxGlobal === null ? rec : { ...this._paxGlobal, ...rec };
      return;
    }
    if (type === 'pax-global-header') {
      this._paxGlobal = decodePax(buf);
      return;
    }
    original.call(this, buf);
  };
  return true;
}

/** The xattrs carried by an entry's PAX records (SCHILY.xattr.<name>=<bytes>). */
export function xattrsOf(pax: PaxRecords | null | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!pax) return out;
  for (const key of Object.keys(pax)) {
    if (key.startsWith(XATTR_PREFIX)) out.set(key.slice(XATTR_PREFIX.length), Buffer.from(pax[key], 'latin1'));
  }
  return out;
}

/** A sparse file's layout: data segments (offset, length) and the file's real size. */
export interface SparseInfo {
  realSize: number;
  /** Sparse format 1.0 keeps the map at the start of the entry data; 0.x keep it in the PAX records. */
  mapInData: boolean;
  segments: Array<[number, number]>;
  name?: string;
}

/** Detects GNU sparse files in PAX form (formats 0.0, 0.1 and 1.0). Returns null for ordinary files. */
export function sparseOf(pax: PaxRecords | null | undefined): SparseInfo | null {
  if (!pax) return null;
  const major = pax['GNU.sparse.major'];
  const minor = pax['GNU.sparse.minor'];
  const name = pax['GNU.sparse.name'];
  if (major === '1' && minor === '0') {
    const realSize = Number(pax['GNU.sparse.realsize']);
    return { realSize, mapInData: true, segments: [], name };
  }
  const map = pax['GNU.sparse.map'];
  if (map !== undefined) {
    const nums = map === '' ? [] : map.split(',').map((s) => Number(s));
    const segments: Array<[number, number]> = [];
    for (let i = 0; i + 1 < nums.length; i += 2) segments.push([nums[i], nums[i + 1]]);
    const realSize = Number(pax['GNU.sparse.size'] ?? pax['GNU.sparse.realsize']);
    return { realSize, mapInData: false, segments, name };
  }
  return null;
}

/**
 * Parses the sparse 1.0 map at the start of the entry data: decimal numbers, one a line (count,
 * then offset/length pairs), padded with zeros to a 512-byte boundary. Returns null until `buf`
 * holds the whole map; otherwise the segments and the number of bytes the map occupies.
 */
export function parseSparseMap(buf: Buffer): { segments: Array<[number, number]>; consumed: number } | null {
  const nums: number[] = [];
  let pos = 0;
  let want = -1;
  while (want < 0 || nums.length < 1 + want * 2) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) return null;
    const s = buf.toString('latin1', pos, nl);
    if (!/^[0-9]+$/.test(s)) throw new Error(`corrupt sparse map ${JSON.stringify(s)}`);
    nums.push(Number(s));
    pos = nl + 1;
    if (want < 0) {
      want = nums[0];
      if (want > 1_000_000) throw new Error('sparse map too large');
    }
  }
  const consumed = Math.ceil(pos / 512) * 512;
  if (buf.length < consumed) return null;
  const segments: Array<[number, number]> = [];
  for (let i = 1; i < nums.length; i += 2) segments.push([nums[i], nums[i + 1]]);
  return { segments, consumed };
}
