/**
 * Interoperability of berth's image import/export with skopeo and umoci (Debian packages):
 * an image built with umoci is imported; berth's OCI exports are read by `skopeo inspect`,
 * `skopeo copy` and `umoci unpack`; skopeo's docker-archive is imported; berth's docker-archive is
 * read by skopeo. Everything lives in temp dirs and a temp content store.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ContentStore, ImageStore } from '../../src/image/content';
import {
  detectArchiveFormat,
  exportDockerArchive,
  exportOciLayout,
  importArchive,
  importDockerArchive,
  importOciLayout,
  type ArchiveStores,
} from '../../src/image/archive';

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = !have('skopeo') || !have('umoci') ? 'skopeo and umoci are needed' : process.getuid?.() !== 0 ? 'umoci unpack needs root here' : false;

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

function tmp(t: { after: (fn: () => void) => void }, prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function stores(t: { after: (fn: () => void) => void }): ArchiveStores {
  const root = tmp(t, 'berth-archive-store-');
  return { content: new ContentStore(root), images: new ImageStore(root) };
}

/** umoci init/new/unpack, add busybox-static + applet links, repack: an OCI layout with tag `t`. */
function umociImage(t: { after: (fn: () => void) => void }): string {
  const work = tmp(t, 'berth-umoci-');
  const layout = path.join(work, 'layout');
  const bundle = path.join(work, 'bundle');
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:t`]);
  run('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'ls', 'cat']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  run('umoci', ['repack', '--image', `${layout}:t`, bundle]);
  run('umoci', ['config', '--image', `${layout}:t`, '--config.cmd', '/bin/sh']);
  return layout;
}

interface SkopeoInspect {
  Digest: string;
  Layers: string[];
  Architecture: string;
}

test('umoci image -> berth import -> OCI export read by skopeo and umoci', { skip }, async (t) => {
  const layout = umociImage(t);
  const s = stores(t);
  const res = await importOciLayout(s, layout, { baseName: 'localhost/umoci' });
  const rec = res.images[0]!;
  assert.equal(rec.name, 'localhost/umoci:t');
  const orig = JSON.parse(run('skopeo', ['inspect', `oci:${layout}:t`])) as SkopeoInspect;
  assert.equal(rec.manifest.digest, orig.Digest);
  assert.deepEqual(rec.layers.map((l) => l.digest), orig.Layers);

  // export as a directory layout: skopeo and umoci read it
  const out = tmp(t, 'berth-export-');
  const dir = path.join(out, 'oci');
  await exportOciLayout(s, ['localhost/umoci:t'], { dir });
  const ins = JSON.parse(run('skopeo', ['inspect', `oci:${dir}:t`])) as SkopeoInspect;
  assert.equal(ins.Digest, rec.manifest.digest);
  assert.deepEqual(ins.Layers, orig.Layers);
  const bundle = path.join(out, 'bundle');
  run('umoci', ['unpack', '--image', `${dir}:t`, bundle]);
  assert.deepEqual(fs.readFileSync(path.join(bundle, 'rootfs', 'bin', 'busybox')), fs.readFileSync('/bin/busybox'));
  assert.equal(fs.readlinkSync(path.join(bundle, 'rootfs', 'bin', 'sh')), 'busybox');
  const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { process: { args: string[] } };
  assert.deepEqual(cfg.process.args, ['/bin/sh']);

  // export as a tar: skopeo reads it as oci-archive
  const tarPath = path.join(out, 'oci.tar');
  await exportOciLayout(s, ['localhost/umoci:t'], { tarPath });
  const ia = JSON.parse(run('skopeo', ['inspect', `oci-archive:${tarPath}:t`])) as SkopeoInspect;
  assert.equal(ia.Digest, rec.manifest.digest);

  // round trip through berth: same digests
  const s2 = stores(t);
  const back = await importArchive(s2, tarPath);
  assert.equal(back.images[0]!.name, 'localhost/umoci:t');
  assert.equal(back.images[0]!.target.digest, rec.target.digest);
  assert.deepEqual(back.images[0]!.layers, rec.layers);
});

test('skopeo docker-archive -> berth import; berth docker-archive -> skopeo', { skip }, async (t) => {
  const layout = umociImage(t);
  const s = stores(t);
  const orig = (await importOciLayout(s, layout, { name: 'localhost/orig:t' })).images[0]!;
  const out = tmp(t, 'berth-docker-');

  // skopeo writes a docker-archive from the umoci layout
  const fromSkopeo = path.join(out, 'skopeo.tar');
  run('skopeo', ['copy', '--quiet', `oci:${layout}:t`, `docker-archive:${fromSkopeo}:example.com/name:tag`]);
  assert.equal((await detectArchiveFormat(fromSkopeo)).format, 'docker-archive');
  const s2 = stores(t);
  const imported = (await importDockerArchive(s2, fromSkopeo)).images[0]!;
  assert.equal(imported.name, 'example.com/name:tag');
  assert.deepEqual(imported.diffIds, orig.diffIds, 'same layer contents (diff_ids) as the umoci image');
  assert.deepEqual(imported.layers.map((l) => l.digest), orig.diffIds, 'docker-archive layers are stored uncompressed');

  // the imported image has Docker schema2 types; berth's OCI export rewrites them as OCI, so skopeo
  // and umoci read it
  const ociOut = path.join(out, 'from-docker');
  await exportOciLayout(s2, ['example.com/name:tag'], { dir: ociOut });
  const oi = JSON.parse(run('skopeo', ['inspect', `oci:${ociOut}:tag`])) as SkopeoInspect;
  assert.deepEqual(oi.Layers, imported.layers.map((l) => l.digest));
  const bundle = path.join(out, 'bundle');
  run('umoci', ['unpack', '--image', `${ociOut}:tag`, bundle]);
  assert.deepEqual(fs.readFileSync(path.join(bundle, 'rootfs', 'bin', 'busybox')), fs.readFileSync('/bin/busybox'));

  // berth writes a docker-archive; skopeo inspects and copies it
  const fromBerth = path.join(out, 'berth.tar');
  await exportDockerArchive(s2, ['example.com/name:tag'], { tarPath: fromBerth });
  const ins = JSON.parse(run('skopeo', ['inspect', `docker-archive:${fromBerth}`])) as SkopeoInspect & { RepoTags?: string[] };
  assert.equal(ins.Architecture, 'amd64');
  assert.equal(ins.Layers.length, orig.layers.length);
  const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${fromBerth}`])) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(cfg.rootfs.diff_ids, orig.diffIds);
  const back = path.join(out, 'back');
  run('skopeo', ['copy', '--quiet', `docker-archive:${fromBerth}`, `oci:${back}:again`]);
  const s3 = stores(t);
  const again = (await importOciLayout(s3, back, { baseName: 'localhost/again' })).images[0]!;
  assert.deepEqual(again.diffIds, orig.diffIds);

  // berth's docker-archive export of the gzip OCI image (layers decompressed) is also readable
  const gz = path.join(out, 'gz.tar');
  await exportDockerArchive(s, ['localhost/orig:t'], { tarPath: gz });
  const cfg2 = JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${gz}`])) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(cfg2.rootfs.diff_ids, orig.diffIds);
  // import -> export -> import: the same digests
  const s4 = stores(t);
  const r1 = (await importDockerArchive(s4, gz)).images[0]!;
  const gz2 = path.join(out, 'gz2.tar');
  await exportDockerArchive(s4, [r1.name], { tarPath: gz2 });
  const s5 = stores(t);
  const r2 = (await importDockerArchive(s5, gz2)).images[0]!;
  assert.equal(r2.manifest.digest, r1.manifest.digest);
  assert.equal(r2.config.digest, r1.config.digest);
  assert.deepEqual(fs.readFileSync(gz2), fs.readFileSync(gz), 'export is deterministic');
});
