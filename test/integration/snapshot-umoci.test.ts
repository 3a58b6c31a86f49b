/**
 * Root only: layers written by umoci (gzip, with a deletion whiteout, an opaque-style dir
 * replacement, a device node and a setuid file) unpacked by berth give the same tree as
 * `umoci unpack`, with both snapshot drivers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { mountPoints, Snapshotter, unpackLayers } from '../../src/image/snapshot';
import { run } from '../../src/image/snapshot/mount';
import { makeBusyboxRootfs } from '../helpers/bundle';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const haveUmoci = spawnSync('umoci', ['--version']).status === 0;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p);
    let what = 'other';
    if (st.isFile()) what = `file ${st.size} ${fs.readFileSync(p).subarray(0, 64).toString('base64')}`;
    else if (st.isSymbolicLink()) what = `link ${fs.readlinkSync(p)}`;
    else if (st.isDirectory()) what = 'dir';
    else if (st.isCharacterDevice()) what = `char ${st.rdev}`;
    if (rel) out.push(`${rel} ${what} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${Math.floor(st.mtimeMs / 1000)}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}

interface Descriptor {
  mediaType: string;
  digest: string;
}

function blob(layout: string, digest: string): string {
  return path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

test('umoci-built layers unpack to the same tree as umoci unpack (overlay and copy)', { skip: (!isRoot || !haveUmoci) && 'needs root and umoci' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-snapumoci-'));
  t.after(async () => {
    for (const m of (await mountPoints()).filter((x) => x.startsWith(`${dir}/`)).reverse()) await run('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const layout = path.join(dir, 'layout');
  const work = path.join(dir, 'work');
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:t`]);
  sh('umoci', ['unpack', '--image', `${layout}:t`, work]);
  const rootfs = path.join(work, 'rootfs');
  // Layer 1: busybox plus some files.
  makeBusyboxRootfs(rootfs);
  fs.mkdirSync(path.join(rootfs, 'data/sub'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'data/sub/a'), 'a');
  fs.writeFileSync(path.join(rootfs, 'data/b'), 'b');
  fs.writeFileSync(path.join(rootfs, 'suid'), 'x');
  fs.chmodSync(path.join(rootfs, 'suid'), 0o4755);
  fs.chownSync(path.join(rootfs, 'data/b'), 1000, 1000);
  sh('umoci', ['repack', '--image', `${layout}:t`, work]);
  // Layer 2 (umoci diffs against the image a bundle was unpacked from: unpack again first):
  // a deletion, a replaced directory, a device node, a hard link.
  const work2 = path.join(dir, 'work2');
  sh('umoci', ['unpack', '--image', `${layout}:t`, work2]);
  const rootfs2 = path.join(work2, 'rootfs');
  fs.rmSync(path.join(rootfs2, 'data/b'));
  fs.rmSync(path.join(rootfs2, 'data/sub'), { recursive: true });
  fs.mkdirSync(path.join(rootfs2, 'data/sub'));
  fs.writeFileSync(path.join(rootfs2, 'data/sub/new'), 'new');
  fs.mkdirSync(path.join(rootfs2, 'dev'), { recursive: true });
  sh('mknod', ['-m', '640', path.join(rootfs2, 'dev/zero2'), 'c', '1', '5']);
  fs.linkSync(path.join(rootfs2, 'suid'), path.join(rootfs2, 'suid-link'));
  sh('umoci', ['repack', '--image', `${layout}:t`, work2]);
  const reference = path.join(dir, 'reference');
  sh('umoci', ['unpack', '--image', `${layout}:t`, reference]);

  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const manifest = JSON.parse(fs.readFileSync(blob(layout, index.manifests[0].digest), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
  const config = JSON.parse(fs.readFileSync(blob(layout, manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
  assert.equal(manifest.layers.length, 2);
  const sources = manifest.layers.map((l, i) => ({
    diffId: config.rootfs.diff_ids[i],
    source: () => fs.createReadStream(blob(layout, l.digest)).pipe(zlib.createGunzip()),
  }));
  const want = listing(path.join(reference, 'rootfs'));
  assert.ok(want.some((l) => l.startsWith('data/sub/new ')));
  assert.ok(!want.some((l) => l.startsWith('data/b ')));

  for (const driver of ['overlay', 'copy'] as const) {
    const s = await Snapshotter.open({ root: path.join(dir, `store-${driver}`), driver });
    const infos = await unpackLayers(s, sources);
    const target = path.join(dir, `mnt-${driver}`);
    fs.mkdirSync(target);
    await s.prepare('c', infos[infos.length - 1].chainId);
    await s.mount('c', target);
    try {
      assert.deepEqual(listing(target), want, `${driver} view matches umoci's`);
    } finally {
      await s.unmount(target);
    }
    await s.remove('c');
  }
  assert.deepEqual((await mountPoints()).filter((x) => x.startsWith(`${dir}/`)), []);
});
