/**
 * The pull benchmark's image: an OCI image layout with 8 gzip layers, about 400 MiB uncompressed, a
 * mix of incompressible (AES-CTR keystream) and text-like (seeded word salad) files, many small files
 * in some layers and a few big ones in others. Generated deterministically from FIXTURE_VERSION, and
 * cached under /var/tmp/berth-bench-fixture/<version>/ (reruns reuse it).
 *
 * Tar members are written by hand (ustar headers, short names): directories, regular files and a few
 * symlinks, uid/gid 0, one fixed mtime.
 */
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/** Bump when the generator or the layer plan changes: the cache is keyed by it. */
export const FIXTURE_VERSION = 'v1-8layers-400MiB-gzip6';
export const FIXTURE_CACHE = '/var/tmp/berth-bench-fixture';
export const FIXTURE_TAG = '1';

const MiB = 1 << 20;
const KiB = 1 << 10;
const MTIME = 1_700_000_000;

type Kind = 'random' | 'text';

/** `count` files of `kind` under `dir`, sizes uniformly in [min, max]. */
interface FileGroup {
  dir: string;
  kind: Kind;
  count: number;
  min: number;
  max: number;
  /** Files per subdirectory (default: all in `dir`). */
  perDir?: number;
}

interface LayerPlan {
  name: string;
  groups: FileGroup[];
  symlinks?: number;
}

/** The layer plan: about 398 MiB uncompressed, about half incompressible. */
export const LAYERS: LayerPlan[] = [
  {
    name: 'base: many small files',
    groups: [
      { dir: 'usr/share/doc', kind: 'text', count: 3000, min: 2 * KiB, max: 14 * KiB, perDir: 100 },
      { dir: 'usr/lib/bin', kind: 'random', count: 300, min: 4 * KiB, max: 60 * KiB, perDir: 50 },
    ],
    symlinks: 200,
  },
  { name: 'big random files', groups: [{ dir: 'opt/blobs', kind: 'random', count: 4, min: 24 * MiB, max: 24 * MiB }] },
  { name: 'big text files', groups: [{ dir: 'opt/data', kind: 'text', count: 3, min: 20 * MiB, max: 20 * MiB }] },
  {
    name: 'many small mixed files',
    groups: [
      { dir: 'app/node_modules', kind: 'text', count: 4000, min: 1 * KiB, max: 15 * KiB, perDir: 40 },
      { dir: 'app/assets', kind: 'random', count: 1000, min: 1 * KiB, max: 31 * KiB, perDir: 100 },
    ],
    symlinks: 100,
  },
  { name: 'one big random file', groups: [{ dir: 'var/cache', kind: 'random', count: 1, min: 48 * MiB, max: 48 * MiB }] },
  {
    name: 'medium mixed files',
    groups: [
      { dir: 'srv/media', kind: 'random', count: 60, min: 100 * KiB, max: 500 * KiB },
      { dir: 'srv/text', kind: 'text', count: 60, min: 100 * KiB, max: 500 * KiB },
    ],
  },
  { name: 'one big log', groups: [{ dir: 'var/log', kind: 'text', count: 1, min: 40 * MiB, max: 40 * MiB }] },
  {
    name: 'small text + two random',
    groups: [
      { dir: 'etc/conf', kind: 'text', count: 2000, min: 4 * KiB, max: 20 * KiB, perDir: 200 },
      { dir: 'usr/local/lib', kind: 'random', count: 2, min: 6 * MiB, max: 6 * MiB },
    ],
  },
];

export interface FixtureLayer {
  digest: string;
  size: number;
  diffId: string;
  /** Uncompressed tar bytes. */
  tarSize: number;
  /** File content bytes (without tar headers and padding). */
  contentBytes: number;
  files: number;
}

export interface Fixture {
  /** OCI image layout directory; the image is tagged FIXTURE_TAG. */
  dir: string;
  version: string;
  layers: FixtureLayer[];
  manifestDigest: string;
  /** Sum of the layers' uncompressed tar sizes. */
  uncompressedBytes: number;
  compressedBytes: number;
  files: number;
}

// --------------------------------------------------------------------------------- deterministic data

/** mulberry32: a small seeded PRNG (uniform 32-bit ints). */
class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [min, max]. */
  range(min: number, max: number): number {
    return min + (this.next() % (max - min + 1));
  }
}

function seedOf(...parts: Array<string | number>): Buffer {
  return createHash('sha256').update(`${FIXTURE_VERSION}/${parts.join('/')}`).digest();
}

/** Incompressible bytes: the AES-256-CTR keystream for a key derived from `id`. */
function* randomBytesFor(id: string, size: number): Generator<Buffer> {
  const key = seedOf('random', id);
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(Math.min(size, MiB));
  for (let left = size; left > 0; left -= zero.length) {
    yield cipher.update(left >= zero.length ? zero : zero.subarray(0, left));
  }
}

const WORDS = (
  'the of and to in is for on that with as by at from this it be are was or an not which have has ' +
  'error warning info debug request response server client config value default option module ' +
  'function return import export const let string number buffer stream layer image content digest ' +
  'manifest registry snapshot overlay mount container runtime process signal timeout retry status ' +
  'user group file directory path size offset length index table record entry header version data'
).split(' ');

/** Text-like, compressible bytes (gzip gets about 3-4x): log-ish lines of seeded words. */
function* textBytesFor(id: string, size: number): Generator<Buffer> {
  const rng = new Prng(seedOf('text', id).readUInt32LE(0));
  let left = size;
  let line = 0;
  while (left > 0) {
    const want = Math.min(left, 256 * KiB);
    let s = '';
    while (s.length < want) {
      line++;
      s += `${(MTIME + line).toString(36)} [${WORDS[rng.next() % 12]}] `;
      const n = 4 + (rng.next() % 12);
      for (let i = 0; i < n; i++) s += WORDS[rng.next() % WORDS.length] + (rng.next() % 7 === 0 ? `=${rng.next() % 10000} ` : ' ');
      s += '\n';
    }
    const b = Buffer.from(s.slice(0, want), 'latin1');
    left -= b.length;
    yield b;
  }
}

// ----------------------------------------------------------------------------------------------- tar

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'ascii');
}

function tarHeader(name: string, type: '0' | '2' | '5', size: number, mode: number, linkname = ''): Buffer {
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(linkname) > 100) throw new Error(`tar name too long: ${name}`);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, MTIME);
  h.fill(0x20, 148, 156);
  h.write(type, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 8, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

interface LayerStats {
  contentBytes: number;
  files: number;
}

function* layerTar(index: number, plan: LayerPlan, stats: LayerStats): Generator<Buffer> {
  const dirs = new Set<string>();
  function* mkdirs(dir: string): Generator<Buffer> {
    const parts = dir.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (dirs.has(d)) continue;
      dirs.add(d);
      yield tarHeader(`${d}/`, '5', 0, 0o755);
    }
  }
  const rng = new Prng(seedOf('layer', index).readUInt32LE(0));
  const files: string[] = [];
  for (const [g, group] of plan.groups.entries()) {
    for (let i = 0; i < group.count; i++) {
      const sub = group.perDir ? `${group.dir}/d${Math.floor(i / group.perDir)}` : group.dir;
      yield* mkdirs(sub);
      const name = `${sub}/${group.kind === 'text' ? 'f' : 'r'}${g}-${i}.${group.kind === 'text' ? 'txt' : 'bin'}`;
      const size = rng.range(group.min, group.max);
      yield tarHeader(name, '0', size, i % 10 === 0 ? 0o755 : 0o644);
      const id = `${index}/${name}`;
      yield* group.kind === 'random' ? randomBytesFor(id, size) : textBytesFor(id, size);
      if (size % 512) yield Buffer.alloc(512 - (size % 512));
      stats.contentBytes += size;
      stats.files++;
      files.push(name);
    }
  }
  for (let i = 0; i < (plan.symlinks ?? 0) && files.length; i++) {
    const target = files[rng.next() % files.length]!;
    yield* mkdirs('links');
    yield tarHeader(`links/l${index}-${i}`, '2', 0, 0o777, `/${target}`);
  }
  yield Buffer.alloc(1024);
}

/** Passes bytes through, hashing and counting them. */
class Tap extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

async function writeBlob(blobs: string, data: Buffer): Promise<string> {
  const hex = createHash('sha256').update(data).digest('hex');
  await fs.promises.writeFile(path.join(blobs, hex), data);
  return `sha256:${hex}`;
}

async function generate(dir: string, log: (s: string) => void): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const layers: FixtureLayer[] = [];
  for (const [i, plan] of LAYERS.entries()) {
    const t0 = Date.now();
    const stats: LayerStats = { contentBytes: 0, files: 0 };
    const tarTap = new Tap();
    const gzTap = new Tap();
    const tmp = path.join(blobs, `tmp-layer-${i}`);
    await pipeline(Readable.from(layerTar(i, plan, stats)), tarTap, createGzip({ level: 6 }), gzTap, fs.createWriteStream(tmp));
    const hex = gzTap.hash.digest('hex');
    fs.renameSync(tmp, path.join(blobs, hex));
    layers.push({ digest: `sha256:${hex}`, size: gzTap.bytes, diffId: `sha256:${tarTap.hash.digest('hex')}`, tarSize: tarTap.bytes, ...stats });
    log(`  layer ${i} (${plan.name}): ${(tarTap.bytes / MiB).toFixed(1)} MiB -> ${(gzTap.bytes / MiB).toFixed(1)} MiB gzip, ${stats.files} files, ${Date.now() - t0} ms`);
  }
  const config = Buffer.from(
    JSON.stringify({
      created: new Date(MTIME * 1000).toISOString(),
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: LAYERS.map((p) => ({ created: new Date(MTIME * 1000).toISOString(), created_by: `berth bench: ${p.name}` })),
    }),
  );
  const configDigest = await writeBlob(blobs, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    }),
  );
  const manifestDigest = await writeBlob(blobs, manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': FIXTURE_TAG },
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    }),
  );
  const fixture: Omit<Fixture, 'dir'> = {
    version: FIXTURE_VERSION,
    layers,
    manifestDigest,
    uncompressedBytes: layers.reduce((a, l) => a + l.tarSize, 0),
    compressedBytes: layers.reduce((a, l) => a + l.size, 0),
    files: layers.reduce((a, l) => a + l.files, 0),
  };
  fs.writeFileSync(path.join(dir, 'fixture.json'), JSON.stringify(fixture, null, 2));
}

/** The cached fixture, generated first if missing (into a temp dir, renamed into place). */
export async function ensureFixture(log: (s: string) => void = () => undefined): Promise<Fixture> {
  const dir = path.join(FIXTURE_CACHE, FIXTURE_VERSION);
  const meta = path.join(dir, 'fixture.json');
  if (!fs.existsSync(meta)) {
    fs.mkdirSync(FIXTURE_CACHE, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(FIXTURE_CACHE, `.tmp-${FIXTURE_VERSION}-`));
    try {
      log(`generating fixture ${FIXTURE_VERSION} in ${dir}`);
      await generate(tmp, log);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  const f = JSON.parse(fs.readFileSync(meta, 'utf8')) as Omit<Fixture, 'dir'>;
  return { ...f, dir };
}
