/**
 * Test images made in memory: layer tars (busybox-static and generated files) compressed with gzip,
 * zstd (the zstd CLI) or not at all, an image config with matching diff_ids, and an OCI or Docker
 * schema2 manifest; indexes over several images; writing an OCI layout for skopeo.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as tar from 'tar-stream';
import { MediaType, type Descriptor, type Platform } from '../../src/image/manifest/types';
import type { ContentStore } from '../../src/image/content/store';

export const BUSYBOX = '/bin/busybox';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink';
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  const mtime = new Date(1_700_000_000_000);
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const h: Partial<tar.Header> & { name: string } = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime, uid: 0, gid: 0 };
      if (type === 'symlink') h.linkname = e.linkname ?? '';
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(h, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)), cb);
      else pack.entry(h, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** busybox-static with a few applet symlinks, plus /etc/passwd. */
export function busyboxEntries(applets = ['sh', 'ls', 'cat', 'echo', 'sleep']): TarEntry[] {
  return [
    { name: 'bin', type: 'directory' },
    { name: 'bin/busybox', data: fs.readFileSync(BUSYBOX), mode: 0o755 },
    ...applets.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc', type: 'directory' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n' },
  ];
}

/** Generated files: `random` bytes of random data and `compressible` bytes of text. */
export function generatedEntries(tag: string, random: number, compressible = 0): TarEntry[] {
  const out: TarEntry[] = [{ name: `data-${tag}`, type: 'directory' }];
  if (random) out.push({ name: `data-${tag}/random.bin`, data: randomBytes(random) });
  if (compressible) out.push({ name: `data-${tag}/text.txt`, data: Buffer.alloc(compressible, `line ${tag}\n`) });
  return out;
}

export type Compression = 'gzip' | 'zstd' | 'none';

export function compress(data: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return zlib.gzipSync(data, { level: 1 });
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
  return data;
}

export interface TestImage {
  format: 'oci' | 'docker';
  manifest: Buffer;
  manifestDesc: Descriptor;
  config: Buffer;
  configDesc: Descriptor;
  layers: Array<{ desc: Descriptor; data: Buffer; diffId: string }>;
  /** Every blob, manifest included, by digest. */
  blobs: Map<string, Buffer>;
}

function layerType(format: 'oci' | 'docker', c: Compression): string {
  if (format === 'oci') return c === 'gzip' ? MediaType.OciLayerGzip : c === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
  return c === 'gzip' ? MediaType.DockerLayerGzip : c === 'zstd' ? MediaType.DockerLayerZstd : MediaType.DockerLayer;
}

export async function buildImage(opts: {
  format: 'oci' | 'docker';
  layers: Array<{ entries: TarEntry[]; compression: Compression }>;
  architecture?: string;
  variant?: string;
  cmd?: string[];
  /** Override diff_ids (to make a lying config). */
  diffIds?: string[];
}): Promise<TestImage> {
  const layers: TestImage['layers'] = [];
  for (const l of opts.layers) {
    const raw = await tarOf(l.entries);
    const data = compress(raw, l.compression);
    layers.push({ desc: { mediaType: layerType(opts.format, l.compression), digest: sha256(data), size: data.length }, data, diffId: sha256(raw) });
  }
  const cfg: Record<string, unknown> = {
    created: '2024-01-01T00:00:00Z',
    architecture: opts.architecture ?? 'amd64',
    os: 'linux',
    config: { Cmd: opts.cmd ?? ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: opts.diffIds ?? layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created_by: 'berth test' })),
  };
  if (opts.variant) cfg.variant = opts.variant;
  const config = Buffer.from(JSON.stringify(cfg));
  const configDesc: Descriptor = { mediaType: opts.format === 'oci' ? MediaType.OciConfig : MediaType.DockerConfig, digest: sha256(config), size: config.length };
  const mt = opts.format === 'oci' ? MediaType.OciManifest : MediaType.DockerManifest;
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt, config: configDesc, layers: layers.map((l) => l.desc) }, null, 2));
  const manifestDesc: Descriptor = { mediaType: mt, digest: sha256(manifest), size: manifest.length };
  const blobs = new Map<string, Buffer>();
  blobs.set(configDesc.digest, config);
  for (const l of layers) blobs.set(l.desc.digest, l.data);
  blobs.set(manifestDesc.digest, manifest);
  return { format: opts.format, manifest, manifestDesc, config, configDesc, layers, blobs };
}

export function buildIndex(format: 'oci' | 'docker', entries: Array<{ image: TestImage; platform: Platform }>): { bytes: Buffer; desc: Descriptor; blobs: Map<string, Buffer> } {
  const mt = format === 'oci' ? MediaType.OciIndex : MediaType.DockerManifestList;
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt, manifests: entries.map((e) => ({ ...e.image.manifestDesc, platform: e.platform })) }));
  const desc: Descriptor = { mediaType: mt, digest: sha256(bytes), size: bytes.length };
  const blobs = new Map<string, Buffer>();
  for (const e of entries) for (const [d, b] of e.image.blobs) blobs.set(d, b);
  blobs.set(desc.digest, bytes);
  return { bytes, desc, blobs };
}

/** Put every blob into a content store (to push with berth's own code). */
export async function storeBlobs(store: ContentStore, blobs: Map<string, Buffer>): Promise<void> {
  for (const [d, b] of blobs) await store.putBlob(b, { digest: d, size: b.length });
}

/** Write an OCI image layout directory with `top` tagged `tag` (for skopeo copy oci:DIR:TAG). */
export function writeOciLayout(dir: string, top: Descriptor, blobs: Map<string, Buffer>, tag: string): void {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const [d, b] of blobs) fs.writeFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)), b);
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
}
