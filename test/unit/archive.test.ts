import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PassThrough, Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as tar from 'tar-stream';
import { ContentStore, ImageStore } from '../../src/image/content';
import { MediaType, type Descriptor } from '../../src/image/manifest/types';
import {
  detectArchiveFormat,
  exportDockerArchive,
  exportOciLayout,
  importArchive,
  importDockerArchive,
  importOciLayout,
  safeMemberName,
  type ArchiveStores,
} from '../../src/image/archive';
import { buildImage, busyboxEntries, generatedEntries, tarOf, writeOciLayout, type TestImage } from '../helpers/registry-images';

function tmp(t: { after: (fn: () => void) => void }, prefix = 'berth-archive-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function stores(t: { after: (fn: () => void) => void }): ArchiveStores {
  const root = tmp(t, 'berth-archive-store-');
  return { content: new ContentStore(root), images: new ImageStore(root) };
}

function sha(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

type TarEntryStream = AsyncIterable<Buffer> & { header: tar.Header };

interface Ent {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  linkname?: string;
}

async function tarBuf(entries: Ent[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const type = e.type ?? 'file';
      const h: tar.Header | (Partial<tar.Header> & { name: string }) = { name: e.name, type, mode: 0o644, mtime: new Date(0) };
      if (e.linkname !== undefined) h.linkname = e.linkname;
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(h, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)), cb);
      else pack.entry(h, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function smallImage(format: 'oci' | 'docker' = 'oci'): Promise<TestImage> {
  return buildImage({
    format,
    layers: [
      { entries: busyboxEntries(['sh']), compression: 'gzip' },
      { entries: generatedEntries('a', 5000, 20000), compression: format === 'oci' ? 'zstd' : 'none' },
    ],
  });
}

function layoutEntries(img: TestImage, tag: string, extra: Record<string, unknown> = {}): Ent[] {
  const out: Ent[] = [{ name: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) }];
  out.push({
    name: 'index.json',
    data: JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...img.manifestDesc, annotations: { 'org.opencontainers.image.ref.name': tag }, ...extra }] }),
  });
  for (const [d, b] of img.blobs) out.push({ name: `blobs/sha256/${d.slice(7)}`, data: b });
  return out;
}

/** A classic `docker save` tar: <id>/layer.tar (uncompressed), <hex>.json, manifest.json, repositories. */
async function dockerSaveTar(img: TestImage, tags: string[], opts: { dupLink?: boolean } = {}): Promise<{ tar: Buffer; layerTars: Buffer[] }> {
  const layerTars = img.layers.map((l) => (l.desc.mediaType.endsWith('gzip') ? zlib.gunzipSync(l.data) : l.data));
  const ents: Ent[] = [];
  const paths: string[] = [];
  layerTars.forEach((lt, i) => {
    const id = createHash('sha256').update(`v1-${i}`).digest('hex');
    ents.push({ name: `${id}/`, type: 'directory' });
    ents.push({ name: `${id}/VERSION`, data: '1.0' });
    ents.push({ name: `${id}/json`, data: '{}' });
    ents.push({ name: `${id}/layer.tar`, data: lt });
    paths.push(`${id}/layer.tar`);
  });
  const cfgName = `${img.configDesc.digest.slice(7)}.json`;
  ents.push({ name: cfgName, data: img.config });
  if (opts.dupLink) {
    // docker writes a symlink for a layer that appears twice
    ents.push({ name: 'dup/', type: 'directory' });
    ents.push({ name: 'dup/layer.tar', type: 'symlink', linkname: `../${paths[0]}` });
  }
  ents.push({ name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: tags, Layers: opts.dupLink ? ['dup/layer.tar', ...paths.slice(1)] : paths }]) });
  ents.push({ name: 'repositories', data: '{}' });
  return { tar: await tarBuf(ents), layerTars };
}

async function snapshot(s: ArchiveStores): Promise<{ blobs: string[]; images: string[]; ingest: string[] }> {
  return {
    blobs: (await s.content.listBlobs()).sort(),
    images: (await s.images.list()).map((r) => r.name),
    ingest: fs.readdirSync(path.join(s.content.root, 'ingest')),
  };
}

test('safeMemberName normalises and refuses hostile names', () => {
  assert.equal(safeMemberName('./blobs//sha256/x'), 'blobs/sha256/x');
  assert.equal(safeMemberName('./'), '');
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a\\b', 'a\0b', 'blobs/../../x']) {
    assert.throws(() => safeMemberName(bad), /\.\.|absolute|backslash|NUL/, bad);
  }
});

test('OCI layout directory import: names from ref.name with a base name, layers verified and labelled', async (t) => {
  const s = stores(t);
  const img = await smallImage('oci');
  const dir = tmp(t);
  writeOciLayout(dir, img.manifestDesc, img.blobs, 'v1');
  await assert.rejects(importOciLayout(s, dir), /carries no repository name/);
  assert.deepEqual((await snapshot(s)).blobs, [], 'a failed import leaves no blobs');
  const res = await importOciLayout(s, dir, { baseName: 'example.com/app' });
  assert.equal(res.images.length, 1);
  const rec = res.images[0]!;
  assert.equal(rec.name, 'example.com/app:v1');
  assert.equal(rec.target.digest, img.manifestDesc.digest);
  assert.equal(rec.config.digest, img.configDesc.digest);
  assert.deepEqual(rec.diffIds, img.layers.map((l) => l.diffId));
  for (const [d] of img.blobs) assert.ok(await s.content.has(d), d);
  for (const l of img.layers) assert.equal((await s.content.getLabels(l.desc.digest))['berth.uncompressed'], l.diffId);
  assert.deepEqual((await s.images.list()).map((r) => r.name), ['example.com/app:v1']);
  // a full reference in ref.name needs no base name; `name` overrides
  const s2 = stores(t);
  const r2 = await importOciLayout(s2, { dir }, { name: 'other/name:x' });
  assert.equal(r2.images[0]!.name, 'docker.io/other/name:x');
});

test('OCI tar export -> import gives the same digests; tar, directory and stream destinations agree', async (t) => {
  const s = stores(t);
  const img = await smallImage('oci');
  const dir = tmp(t);
  writeOciLayout(dir, img.manifestDesc, img.blobs, 'registry.local:5000/app:1.0');
  await importOciLayout(s, dir);
  const out = tmp(t);
  const tarPath = path.join(out, 'app.tar');
  const ex = await exportOciLayout(s, ['registry.local:5000/app:1.0'], { tarPath });
  assert.deepEqual(ex.names, ['registry.local:5000/app:1.0']);
  assert.equal(ex.files, img.blobs.size);
  assert.deepEqual(fs.readdirSync(out), ['app.tar'], 'no temp files left');
  assert.deepEqual(await detectArchiveFormat(tarPath), { format: 'oci-layout', container: 'tar', compression: 'none' });

  const s2 = stores(t);
  const back = await importOciLayout(s2, tarPath);
  assert.equal(back.images[0]!.name, 'registry.local:5000/app:1.0');
  assert.equal(back.images[0]!.target.digest, img.manifestDesc.digest);
  assert.deepEqual((await s2.content.listBlobs()).sort(), [...img.blobs.keys()].sort());

  // directory export, with the ref.name holding the tag and the full name in the containerd annotation
  const d2 = path.join(out, 'layout');
  await exportOciLayout(s2, ['registry.local:5000/app:1.0'], { dir: d2 });
  const index = JSON.parse(fs.readFileSync(path.join(d2, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  assert.equal(index.manifests.length, 1);
  assert.equal(index.manifests[0]!.annotations!['org.opencontainers.image.ref.name'], '1.0');
  assert.equal(index.manifests[0]!.annotations!['io.containerd.image.name'], 'registry.local:5000/app:1.0');
  for (const [d, b] of img.blobs) assert.deepEqual(fs.readFileSync(path.join(d2, 'blobs', 'sha256', d.slice(7))), b);
  // exporting again into the same directory merges (no duplicate entry)
  await exportOciLayout(s2, ['registry.local:5000/app:1.0'], { dir: d2 });
  assert.equal((JSON.parse(fs.readFileSync(path.join(d2, 'index.json'), 'utf8')) as { manifests: unknown[] }).manifests.length, 1);

  // stream destination, gzip-compressed, read back through the stream source
  const pt = new PassThrough();
  const gz = zlib.createGzip();
  const chunks: Buffer[] = [];
  gz.on('data', (c: Buffer) => chunks.push(c));
  const gzDone = new Promise((r) => gz.on('end', r));
  pt.pipe(gz);
  await exportOciLayout(s2, ['registry.local:5000/app:1.0'], { stream: pt });
  await gzDone;
  const s3 = stores(t);
  const viaStream = await importOciLayout(s3, { stream: Readable.from([Buffer.concat(chunks)]) });
  assert.equal(viaStream.images[0]!.target.digest, img.manifestDesc.digest);
});

test('OCI import of an index picks this platform; Docker media types inside an OCI layout are accepted', async (t) => {
  const s = stores(t);
  const amd = await buildImage({ format: 'docker', layers: [{ entries: generatedEntries('x', 100), compression: 'gzip' }], architecture: 'amd64' });
  const arm = await buildImage({ format: 'docker', layers: [{ entries: generatedEntries('y', 100), compression: 'gzip' }], architecture: 'arm64' });
  const idx = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifestList,
      manifests: [
        { ...amd.manifestDesc, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm.manifestDesc, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    }),
  );
  const idxDesc: Descriptor = { mediaType: MediaType.DockerManifestList, digest: sha(idx), size: idx.length };
  const blobs = new Map([...amd.blobs, ...arm.blobs, [idxDesc.digest, idx]]);
  const dir = tmp(t);
  writeOciLayout(dir, idxDesc, blobs, 'docker.io/library/multi:1');
  const res = await importOciLayout(s, dir, { platform: { os: 'linux', architecture: 'arm64' } });
  assert.equal(res.images[0]!.target.digest, idxDesc.digest);
  assert.equal(res.images[0]!.manifest.digest, arm.manifestDesc.digest);
  assert.equal(res.images[0]!.platform.architecture, 'arm64');
  // export keeps the whole index when all of it is present; keepDockerMediaTypes keeps the digests
  const out = path.join(tmp(t), 'x.tar');
  await exportOciLayout(s, ['multi:1'], { tarPath: out }, { keepDockerMediaTypes: true });
  const s2 = stores(t);
  const back = await importOciLayout(s2, out, { platform: { os: 'linux', architecture: 'amd64' } });
  assert.equal(back.images[0]!.target.digest, idxDesc.digest);
  assert.equal(back.images[0]!.manifest.digest, amd.manifestDesc.digest);
  // by default Docker types are rewritten as OCI (what skopeo and umoci read): new manifest digests,
  // same config and layers
  const out2 = path.join(tmp(t), 'y.tar');
  await exportOciLayout(s, ['multi:1'], { tarPath: out2 });
  const s3 = stores(t);
  const conv = (await importOciLayout(s3, out2, { platform: { os: 'linux', architecture: 'amd64' } })).images[0]!;
  assert.equal(conv.target.mediaType, MediaType.OciIndex);
  assert.equal(conv.manifest.mediaType, MediaType.OciManifest);
  assert.notEqual(conv.manifest.digest, amd.manifestDesc.digest);
  assert.equal(conv.config.digest, amd.configDesc.digest);
  assert.equal(conv.config.mediaType, MediaType.OciConfig);
  assert.deepEqual(conv.layers.map((l) => [l.mediaType, l.digest]), amd.layers.map((l) => [MediaType.OciLayerGzip, l.desc.digest]));
  const idx2 = JSON.parse((await s3.content.readBlob(conv.target.digest)).toString()) as { manifests: Descriptor[] };
  assert.deepEqual(idx2.manifests.map((m) => [m.mediaType, m.platform?.architecture]), [[MediaType.OciManifest, 'amd64'], [MediaType.OciManifest, 'arm64']]);
});

test('docker-archive import (classic layout, symlinked duplicate layer) -> export -> import keeps digests', async (t) => {
  const s = stores(t);
  const img = await smallImage('docker');
  const { tar: saved, layerTars } = await dockerSaveTar(img, ['busybox:saved'], { dupLink: true });
  const dir = tmp(t);
  const p = path.join(dir, 'saved.tar');
  fs.writeFileSync(p, saved);
  assert.equal((await detectArchiveFormat(p)).format, 'docker-archive');
  const res = await importArchive(s, p);
  assert.equal(res.format, 'docker-archive');
  const rec = res.images[0]!;
  assert.equal(rec.name, 'docker.io/library/busybox:saved');
  assert.equal(rec.config.digest, img.configDesc.digest);
  assert.equal(rec.manifest.mediaType, MediaType.DockerManifest);
  assert.deepEqual(rec.layers.map((l) => l.digest), layerTars.map((b) => sha(b)), 'layers stored uncompressed, digest = diff_id');
  assert.deepEqual(rec.layers.map((l) => l.mediaType), [MediaType.DockerLayer, MediaType.DockerLayer]);
  assert.deepEqual(fs.readdirSync(path.join(s.content.root, 'ingest')), [], 'staging removed');

  const out = path.join(dir, 'out.tar');
  await exportDockerArchive(s, ['busybox:saved'], { tarPath: out });
  // read the archive back by hand
  const names = new Map<string, Buffer>();
  for await (const e of fs.createReadStream(out).pipe(tar.extract()) as AsyncIterable<TarEntryStream>) {
    const c: Buffer[] = [];
    for await (const x of e as AsyncIterable<Buffer>) c.push(x);
    names.set(e.header.name, Buffer.concat(c));
  }
  const mj = JSON.parse(names.get('manifest.json')!.toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  assert.deepEqual(mj[0]!.RepoTags, ['busybox:saved']);
  assert.equal(mj[0]!.Config, `${img.configDesc.digest.slice(7)}.json`);
  assert.deepEqual(mj[0]!.Layers.map((l) => sha(names.get(l)!)), img.layers.map((l) => l.diffId));
  assert.deepEqual(JSON.parse(names.get('repositories')!.toString()), { busybox: { saved: img.layers[1]!.diffId.slice(7) } });

  const s2 = stores(t);
  const back = await importDockerArchive(s2, out);
  assert.equal(back.images[0]!.manifest.digest, rec.manifest.digest, 'same manifest digest after a round trip');
  assert.equal(back.images[0]!.config.digest, rec.config.digest);
});

test('docker-archive export decompresses gzip and zstd layers; a docker archive of an OCI image imports back', async (t) => {
  const s = stores(t);
  const img = await smallImage('oci'); // gzip + zstd layers
  const dir = tmp(t);
  writeOciLayout(dir, img.manifestDesc, img.blobs, 'example.com/z:1');
  await importOciLayout(s, dir);
  const out = path.join(dir, 'z.tar');
  await exportDockerArchive(s, ['example.com/z:1'], { tarPath: out });
  const s2 = stores(t);
  const res = await importDockerArchive(s2, { tarPath: out });
  const rec = res.images[0]!;
  assert.equal(rec.name, 'example.com/z:1');
  assert.deepEqual(rec.diffIds, img.layers.map((l) => l.diffId));
  assert.deepEqual(rec.layers.map((l) => l.digest), rec.diffIds);
  assert.equal(rec.config.digest, img.configDesc.digest);
});

test('docker-archive import of a gzip-compressed save, and compressed layer.tar files', async (t) => {
  const s = stores(t);
  const img = await smallImage('docker');
  // layer 0 kept gzip-compressed inside the archive (docker load accepts that)
  const cfgName = `${img.configDesc.digest.slice(7)}.json`;
  const raw1 = img.layers[1]!.data;
  const saved = await tarBuf([
    { name: 'l0/layer.tar', data: img.layers[0]!.data },
    { name: 'l1/layer.tar', data: raw1 },
    { name: cfgName, data: img.config },
    { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['a/b:c'], Layers: ['l0/layer.tar', 'l1/layer.tar'] }]) },
  ]);
  const p = path.join(tmp(t), 's.tar.gz');
  fs.writeFileSync(p, zlib.gzipSync(saved));
  assert.deepEqual(await detectArchiveFormat(p), { format: 'docker-archive', container: 'tar', compression: 'gzip' });
  const res = await importArchive(s, p);
  const rec = res.images[0]!;
  assert.equal(rec.layers[0]!.mediaType, MediaType.DockerLayerGzip);
  assert.equal(rec.layers[0]!.digest, img.layers[0]!.desc.digest);
  assert.equal(rec.layers[1]!.mediaType, MediaType.DockerLayer);
});

test('bad inputs fail clearly and leave the store as it was', async (t) => {
  const s = stores(t);
  // something already in the store, which must survive the failures
  const keep = await smallImage('oci');
  const kdir = tmp(t);
  writeOciLayout(kdir, keep.manifestDesc, keep.blobs, 'keep.io/k:1');
  await importOciLayout(s, kdir);
  const before = await snapshot(s);
  const dir = tmp(t);
  let n = 0;
  const file = async (b: Buffer): Promise<string> => {
    const p = path.join(dir, `case-${n++}.tar`);
    fs.writeFileSync(p, b);
    return p;
  };
  const img = await smallImage('oci');
  const base = layoutEntries(img, 'x.io/y:1');
  const without = (pred: (e: Ent) => boolean): Ent[] => base.filter((e) => !pred(e));
  const layerName = `blobs/sha256/${img.layers[1]!.desc.digest.slice(7)}`; // random, not shared with `keep`

  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['not a tar', async () => importOciLayout(s, await file(randomBytes(2048))), /not a tar archive/],
    ['empty file', async () => importOciLayout(s, await file(Buffer.alloc(0))), /no oci-layout/],
    ['missing index.json', async () => importOciLayout(s, await file(await tarBuf(without((e) => e.name === 'index.json')))), /no index\.json/],
    ['missing oci-layout', async () => importOciLayout(s, await file(await tarBuf(without((e) => e.name === 'oci-layout')))), /no oci-layout/],
    ['missing blob', async () => importOciLayout(s, await file(await tarBuf(without((e) => e.name === layerName)))), /missing from the archive/],
    [
      'blob digest mismatch',
      async () => importOciLayout(s, await file(await tarBuf(base.map((e) => (e.name === layerName ? { ...e, data: Buffer.concat([e.data as Buffer]).fill(7, 10, 20) } : e))))),
      /digest mismatch/,
    ],
    [
      'unknown media type',
      async () =>
        importOciLayout(
          s,
          await file(await tarBuf(base.map((e) => (e.name === 'index.json' ? { ...e, data: JSON.stringify({ schemaVersion: 2, manifests: [{ ...img.manifestDesc, mediaType: 'application/x-weird', annotations: { 'org.opencontainers.image.ref.name': 'x.io/y:1' } }] }) } : e)))),
        ),
      /unknown media type application\/x-weird/,
    ],
    ['hostile name ..', async () => importOciLayout(s, await file(await tarBuf([...base, { name: '../../evil', data: 'x' }]))), /contains "\.\."/],
    ['absolute name', async () => importOciLayout(s, await file(await tarBuf([...base, { name: '/etc/evil', data: 'x' }]))), /absolute/],
    ['symlink out', async () => importOciLayout(s, await file(await tarBuf([...base, { name: 'a', type: 'symlink', linkname: '../../etc/passwd' }]))), /outside the archive/],
    ['absolute symlink', async () => importOciLayout(s, await file(await tarBuf([...base, { name: 'a', type: 'symlink', linkname: '/etc/passwd' }]))), /absolute path/],
    ['fifo', async () => importOciLayout(s, await file(await tarBuf([...base, { name: 'f', type: 'fifo' }]))), /is a fifo/],
    ['duplicated entry', async () => importOciLayout(s, await file(await tarBuf([...base, base[1]!]))), /more than once/],
    ['blob link', async () => importOciLayout(s, await file(await tarBuf([...without((e) => e.name === layerName), { name: layerName, type: 'symlink', linkname: 'x' }]))), /is a link/],
    ['manifest.json not JSON', async () => importDockerArchive(s, await file(await tarBuf([{ name: 'manifest.json', data: '[{' }]))), /manifest\.json is malformed/],
    ['manifest.json wrong shape', async () => importDockerArchive(s, await file(await tarBuf([{ name: 'manifest.json', data: '[{"Config":1}]' }]))), /manifest\.json is malformed/],
    ['no manifest.json', async () => importDockerArchive(s, await file(await tarBuf([{ name: 'x/layer.tar', data: 'x' }]))), /no manifest\.json/],
    ['not a tar (docker)', async () => importDockerArchive(s, await file(Buffer.from('{"hello": "world"}'.repeat(40)))), /not a tar archive/],
  ];
  // docker: a layer that does not match the config's diff_ids, and a missing layer file
  const dimg = await smallImage('docker');
  const { tar: good } = await dockerSaveTar(dimg, ['d:1']);
  const goodEntries: Ent[] = [];
  for await (const e of Readable.from([good]).pipe(tar.extract()) as AsyncIterable<TarEntryStream>) {
    const c: Buffer[] = [];
    for await (const x of e as AsyncIterable<Buffer>) c.push(x);
    goodEntries.push({ name: e.header.name, type: e.header.type === 'directory' ? 'directory' : 'file', data: Buffer.concat(c) });
  }
  let swapped = false;
  cases.push(
    [
      'docker layer diff_id mismatch',
      async () =>
        importDockerArchive(
          s,
          await file(
            await tarBuf(
              goodEntries.map((e) => {
                if (!swapped && e.name.endsWith('layer.tar')) {
                  swapped = true;
                  return { ...e, data: Buffer.concat([e.data as Buffer, Buffer.alloc(1024)]) };
                }
                return e;
              }),
            ),
          ),
        ),
      /does not match|diff_ids/,
    ],
    ['docker missing layer', async () => importDockerArchive(s, await file(await tarBuf(goodEntries.filter((e) => !e.name.endsWith('layer.tar'))))), /missing from the archive/],
    ['docker untagged', async () => importDockerArchive(s, await file(await tarBuf(goodEntries.map((e) => (e.name === 'manifest.json' ? { ...e, data: (e.data as Buffer).toString().replace('["d:1"]', 'null') } : e))))), /no RepoTags/],
    ['docker bad RepoTag', async () => importDockerArchive(s, await file(await tarBuf(goodEntries.map((e) => (e.name === 'manifest.json' ? { ...e, data: (e.data as Buffer).toString().replace('"d:1"', '"UPPER:1"') } : e))))), /RepoTags.*lowercase/],
  );
  for (const [what, run, re] of cases) {
    await assert.rejects(run(), re, what);
    assert.deepEqual(await snapshot(s), before, `store unchanged after: ${what}`);
  }
  await assert.rejects(detectArchiveFormat(await file(randomBytes(4096))), /not a tar archive/);
  await assert.rejects(detectArchiveFormat(await file(await tarBuf([{ name: 'hello', data: 'x' }]))), /neither an OCI image layout/);
  await assert.rejects(importOciLayout(s, path.join(dir, 'nope.tar')), /no such file/);
});

test('export refuses unknown images and writes nothing', async (t) => {
  const s = stores(t);
  const dir = tmp(t);
  await assert.rejects(exportOciLayout(s, ['nope:1'], { tarPath: path.join(dir, 'a.tar') }), /not found/);
  await assert.rejects(exportDockerArchive(s, ['nope:1'], { tarPath: path.join(dir, 'b.tar') }), /not found/);
  await assert.rejects(exportOciLayout(s, [], { dir }), /no images/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('docker-archive with several images and shared layers; select and name', async (t) => {
  const s = stores(t);
  const shared = await tarOf(busyboxEntries(['sh']));
  void shared;
  const a = await buildImage({ format: 'docker', layers: [{ entries: busyboxEntries(['sh']), compression: 'none' }, { entries: generatedEntries('a', 10), compression: 'none' }] });
  const b = await buildImage({ format: 'docker', layers: [{ entries: busyboxEntries(['sh']), compression: 'none' }, { entries: generatedEntries('b', 10), compression: 'none' }] });
  for (const [img, tag] of [[a, 'example.com/a:1'], [b, 'example.com/b:1']] as const) {
    const d = tmp(t);
    writeOciLayout(d, img.manifestDesc, img.blobs, tag);
    await importOciLayout(s, d);
  }
  const out = path.join(tmp(t), 'ab.tar');
  const ex = await exportDockerArchive(s, ['example.com/a:1', 'example.com/b:1'], { tarPath: out });
  assert.equal(ex.files, 3 + 2 + 2, 'shared layer written once: 3 layers, 2 configs, manifest.json, repositories');
  const s2 = stores(t);
  const all = await importDockerArchive(s2, out);
  assert.deepEqual(all.images.map((r) => r.name).sort(), ['example.com/a:1', 'example.com/b:1']);
  const s3 = stores(t);
  const one = await importDockerArchive(s3, out, { select: 'example.com/b:1', name: 'renamed:2' });
  assert.deepEqual(one.images.map((r) => r.name), ['docker.io/library/renamed:2']);
  assert.deepEqual((await s3.content.listBlobs()).length, 2 + 1 + 1, 'unselected image blobs dropped: 2 layers, config, manifest');
  await assert.rejects(importDockerArchive(stores(t), out, { name: 'x:1' }), /holds 2 images/);
});

test('docker 25+ save format (blobs/sha256 + manifest.json + index.json) imports either way', async (t) => {
  const img = await buildImage({ format: 'oci', layers: [{ entries: busyboxEntries(['sh']), compression: 'none' }] });
  const cfgPath = `blobs/sha256/${img.configDesc.digest.slice(7)}`;
  const layerPath = `blobs/sha256/${img.layers[0]!.desc.digest.slice(7)}`;
  const ents: Ent[] = [];
  for (const [d, b] of img.blobs) ents.push({ name: `blobs/sha256/${d.slice(7)}`, data: b });
  ents.push({
    name: 'index.json',
    data: JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ ...img.manifestDesc, annotations: { 'io.containerd.image.name': 'docker.io/library/new:25', 'org.opencontainers.image.ref.name': '25' } }],
    }),
  });
  ents.push({ name: 'manifest.json', data: JSON.stringify([{ Config: cfgPath, RepoTags: ['new:25'], Layers: [layerPath] }]) });
  ents.push({ name: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) });
  ents.push({ name: 'repositories', data: '{}' });
  const p = path.join(tmp(t), 'd25.tar');
  fs.writeFileSync(p, await tarBuf(ents));
  assert.equal((await detectArchiveFormat(p)).format, 'oci-layout');
  const s = stores(t);
  const viaOci = (await importArchive(s, p)).images[0]!;
  assert.equal(viaOci.name, 'docker.io/library/new:25');
  assert.equal(viaOci.manifest.digest, img.manifestDesc.digest, "docker's own manifest kept");
  const s2 = stores(t);
  const viaDocker = (await importDockerArchive(s2, p)).images[0]!;
  assert.equal(viaDocker.name, 'docker.io/library/new:25');
  assert.equal(viaDocker.config.digest, img.configDesc.digest);
  assert.deepEqual(viaDocker.layers.map((l) => l.digest), [img.layers[0]!.desc.digest]);
});

test('more hostile archives: escaping hard links, layer paths with .., oversized metadata, non-layout export dir', async (t) => {
  const s = stores(t);
  const dir = tmp(t);
  const img = await smallImage('docker');
  const { tar: good } = await dockerSaveTar(img, ['d:1']);
  const p0 = path.join(dir, 'good.tar');
  fs.writeFileSync(p0, good);
  const before = await snapshot(s);
  const cases: Array<[string, Ent[] | Buffer, RegExp, 'oci' | 'docker']> = [
    ['hard link out', [{ name: 'a', data: 'x' }, { name: 'b', type: 'link', linkname: '../a' }], /outside the archive/, 'docker'],
    ['symlink into parent via subdir', [{ name: 'x/y', type: 'symlink', linkname: '../../z' }], /outside the archive/, 'docker'],
    ['layer path with ..', [{ name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['a:1'], Layers: ['../../etc/passwd'] }]) }, { name: 'c.json', data: img.config }], /contains "\.\."/, 'docker'],
    ['config path absolute', [{ name: 'manifest.json', data: JSON.stringify([{ Config: '/etc/passwd', RepoTags: ['a:1'], Layers: [] }]) }], /absolute/, 'docker'],
    ['config missing', [{ name: 'manifest.json', data: JSON.stringify([{ Config: 'nope.json', RepoTags: ['a:1'], Layers: [] }]) }], /config nope\.json is missing/, 'docker'],
  ];
  let n = 0;
  for (const [what, ents, re, kind] of cases) {
    const p = path.join(dir, `h${n++}.tar`);
    fs.writeFileSync(p, Buffer.isBuffer(ents) ? ents : await tarBuf(ents));
    await assert.rejects(kind === 'oci' ? importOciLayout(s, p) : importDockerArchive(s, p), re, what);
    assert.deepEqual(await snapshot(s), before, what);
  }
  await assert.rejects(importDockerArchive(s, p0, { maxMetadataSize: 16 }), /more than the 16 allowed|larger than 16/);
  assert.deepEqual(await snapshot(s), before);
  const notLayout = tmp(t);
  fs.writeFileSync(path.join(notLayout, 'precious'), 'x');
  await importDockerArchive(s, p0);
  await assert.rejects(exportOciLayout(s, ['d:1'], { dir: notLayout }), /not empty and not an OCI image layout/);
  assert.deepEqual(fs.readdirSync(notLayout), ['precious']);
});

test('concurrent imports of one archive into one store: both succeed, blobs stored once', async (t) => {
  const s = stores(t);
  const img = await smallImage('oci');
  const p = path.join(tmp(t), 'c.tar');
  fs.writeFileSync(p, await tarBuf(layoutEntries(img, 'example.com/c:1')));
  const [a, b] = await Promise.all([importOciLayout(s, p), importOciLayout(s, { tarPath: p })]);
  assert.equal(a.images[0]!.target.digest, b.images[0]!.target.digest);
  assert.deepEqual((await s.content.listBlobs()).sort(), [...img.blobs.keys()].sort());
  assert.deepEqual(fs.readdirSync(path.join(s.content.root, 'ingest')), []);
});

test('layout directory: select imports only the blobs of the selected image; symlinked blobs are refused', async (t) => {
  const a = await buildImage({ format: 'oci', layers: [{ entries: generatedEntries('a', 1000), compression: 'gzip' }] });
  const b = await buildImage({ format: 'oci', layers: [{ entries: generatedEntries('b', 1000), compression: 'gzip' }] });
  const dir = tmp(t);
  writeOciLayout(dir, a.manifestDesc, new Map([...a.blobs, ...b.blobs]), 'x.io/a:1');
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  index.manifests.push({ ...b.manifestDesc, annotations: { 'org.opencontainers.image.ref.name': 'x.io/b:1' } });
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  const s = stores(t);
  const res = await importOciLayout(s, dir, { select: 'x.io/b:1' });
  assert.deepEqual(res.images.map((r) => r.name), ['x.io/b:1']);
  assert.deepEqual((await s.content.listBlobs()).sort(), [...b.blobs.keys()].sort());
  // a blob replaced by a symlink (to a file with the right bytes, even) is refused
  const victim = path.join(dir, 'blobs', 'sha256', a.configDesc.digest.slice(7));
  const elsewhere = path.join(tmp(t), 'cfg');
  fs.copyFileSync(victim, elsewhere);
  fs.rmSync(victim);
  fs.symlinkSync(elsewhere, victim);
  await assert.rejects(importOciLayout(stores(t), dir, { select: 'x.io/a:1' }), /not a regular file/);
});

test('importArchive reads a stream of either format (like `docker save | berth load`)', async (t) => {
  const dimg = await smallImage('docker');
  const { tar: saved } = await dockerSaveTar(dimg, ['piped:1']);
  const s = stores(t);
  const r1 = await importArchive(s, { stream: Readable.from([zlib.gzipSync(saved)]) });
  assert.equal(r1.format, 'docker-archive');
  assert.equal(r1.images[0]!.name, 'docker.io/library/piped:1');
  assert.deepEqual(fs.readdirSync(path.join(s.content.root, 'ingest')), []);
  const oimg = await smallImage('oci');
  const r2 = await importArchive(s, { stream: Readable.from([await tarBuf(layoutEntries(oimg, 'x.io/piped:2'))]) });
  assert.equal(r2.format, 'oci-layout');
  assert.equal(r2.images[0]!.target.digest, oimg.manifestDesc.digest);
  const before = await snapshot(s);
  await assert.rejects(importArchive(s, { stream: Readable.from([await tarBuf([{ name: 'x/layer.tar', data: randomBytes(3000) }])]) }), /neither an OCI image layout/);
  assert.deepEqual(await snapshot(s), before);
});

test('progress is reported; an aborted import or export leaves nothing behind', async (t) => {
  const img = await buildImage({ format: 'oci', layers: [{ entries: [{ name: 'big', data: randomBytes(6 << 20) }], compression: 'none' }] });
  const dir = tmp(t);
  writeOciLayout(dir, img.manifestDesc, img.blobs, 'x.io/big:1');
  const s = stores(t);
  const seen: string[] = [];
  await importOciLayout(s, dir, { onProgress: (p) => p.state === 'done' && seen.push(p.name) });
  assert.deepEqual(seen.sort(), ['index.json', 'oci-layout', ...[...img.blobs.keys()].map((d) => `blobs/sha256/${d.slice(7)}`)].sort());

  const out = tmp(t);
  const ac = new AbortController();
  await assert.rejects(
    exportOciLayout(s, ['x.io/big:1'], { tarPath: path.join(out, 'a.tar') }, { signal: ac.signal, onProgress: (p) => p.bytes > 0 && ac.abort(new Error('stop export')) }),
    /stop export/,
  );
  assert.deepEqual(fs.readdirSync(out), [], 'no partial tar');

  const tarPath = path.join(out, 'ok.tar');
  await exportOciLayout(s, ['x.io/big:1'], { tarPath });
  const s2 = stores(t);
  const ac2 = new AbortController();
  await assert.rejects(importOciLayout(s2, tarPath, { signal: ac2.signal, onProgress: (p) => p.name.startsWith('blobs/') && p.bytes > 0 && ac2.abort(new Error('stop import')) }), /stop import/);
  assert.deepEqual(await snapshot(s2), { blobs: [], images: [], ingest: [] });
});

test('OCI import refuses a layer whose uncompressed digest differs from the config diff_ids', async (t) => {
  const honest = await buildImage({ format: 'oci', layers: [{ entries: generatedEntries('h', 500), compression: 'gzip' }] });
  const lying = await buildImage({ format: 'oci', layers: [{ entries: generatedEntries('l', 500), compression: 'gzip' }], diffIds: [honest.layers[0]!.diffId] });
  const dir = tmp(t);
  writeOciLayout(dir, lying.manifestDesc, lying.blobs, 'x.io/lying:1');
  const s = stores(t);
  await assert.rejects(importOciLayout(s, dir), /uncompressed digest sha256:[0-9a-f]+ does not match the config's diff_id/);
  assert.deepEqual(await snapshot(s), { blobs: [], images: [], ingest: [] });
  const p = path.join(tmp(t), 'l.tar');
  fs.writeFileSync(p, await tarBuf(layoutEntries(lying, 'x.io/lying:1')));
  await assert.rejects(importOciLayout(s, p), /does not match the config's diff_id/);
  assert.deepEqual(await snapshot(s), { blobs: [], images: [], ingest: [] });
});

test('an unpacked docker save directory (with its symlinked layer) imports too', async (t) => {
  const img = await smallImage('docker');
  const { tar: saved } = await dockerSaveTar(img, ['unpacked:1'], { dupLink: true });
  const dir = tmp(t);
  const p = path.join(dir, 's.tar');
  fs.writeFileSync(p, saved);
  const x = path.join(dir, 'x');
  fs.mkdirSync(x);
  execFileSync('tar', ['-xf', p, '-C', x]);
  assert.ok(fs.lstatSync(path.join(x, 'dup', 'layer.tar')).isSymbolicLink());
  assert.deepEqual(await detectArchiveFormat(x), { format: 'docker-archive', container: 'dir', compression: 'none' });
  const s = stores(t);
  const r = (await importArchive(s, x)).images[0]!;
  assert.equal(r.name, 'docker.io/library/unpacked:1');
  assert.deepEqual(r.diffIds, img.layers.map((l) => l.diffId));
  // a symlink pointing out of the directory is refused
  fs.rmSync(path.join(x, 'dup', 'layer.tar'));
  fs.symlinkSync('/etc/passwd', path.join(x, 'dup', 'layer.tar'));
  await assert.rejects(importArchive(stores(t), x), /absolute path/);
});
