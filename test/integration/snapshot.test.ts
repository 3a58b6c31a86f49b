/**
 * Root only: overlay snapshots of a 3-layer image (whiteouts, opaque dirs, devices, hard links),
 * the copying fallback giving the same merged view, mounts cleaned up, removal.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { mountPoints, Snapshotter } from '../../src/image/snapshot';
import { run } from '../../src/image/snapshot/mount';
import { buildLayer, streamOf, type LayerEntry } from '../helpers/layers';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const LAYERS: LayerEntry[][] = [
  [
    { type: 'dir', name: 'etc', mode: 0o755 },
    { type: 'file', name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' },
    { type: 'file', name: 'a', data: 'one' },
    { type: 'dir', name: 'd' },
    { type: 'file', name: 'd/x', data: 'x1' },
    { type: 'file', name: 'd/y', data: 'y1' },
    { type: 'dir', name: 'keep', mode: 0o750, uid: 1000, gid: 1000 },
    { type: 'file', name: 'keep/k1', data: 'k1' },
    { type: 'dir', name: 'gone' },
    { type: 'file', name: 'gone/deep', data: 'g' },
    { type: 'dir', name: 'tmp', mode: 0o1777 },
    { type: 'file', name: 'bin/tool', data: 'tool', mode: 0o4755 },
    { type: 'link', name: 'bin/tool2', target: 'bin/tool' },
    { type: 'symlink', name: 'bin/sh', target: 'tool' },
  ],
  [
    { type: 'file', name: 'a', data: 'two' },
    { type: 'whiteout', name: 'd/x' },
    { type: 'dir', name: 'keep', mode: 0o750, uid: 1000, gid: 1000 },
    { type: 'opaque', dir: 'keep' },
    { type: 'file', name: 'keep/k2', data: 'k2', uid: 1000, gid: 1000 },
    { type: 'file', name: 'only2', data: 'l2' },
    { type: 'char', name: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { type: 'fifo', name: 'run/fifo', mode: 0o600 },
    { type: 'file', name: 'tmp/t', data: 't' }, // tmp/ implicit: must keep 1777 from below
  ],
  [
    { type: 'whiteout', name: 'only2' },
    { type: 'file', name: 'd/x', data: 'x3' },
    { type: 'whiteout', name: 'gone' },
    { type: 'file', name: 'bin/new', data: 'new' },
  ],
];

/** A comparable listing of a tree: path, type, mode, owner, and content / link target / rdev. */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p);
    let what = '';
    if (st.isFile()) what = `file ${fs.readFileSync(p, 'utf8')} nlink=${st.nlink}`;
    else if (st.isSymbolicLink()) what = `link ${fs.readlinkSync(p)}`;
    else if (st.isCharacterDevice()) what = `char ${st.rdev}`;
    else if (st.isFIFO()) what = 'fifo';
    else if (st.isDirectory()) what = 'dir';
    if (rel !== '') out.push(`${rel} ${what} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}

async function unpackAll(s: Snapshotter): Promise<string> {
  let parent: string | undefined;
  for (const entries of LAYERS) {
    const buf = await buildLayer(entries);
    const r = await s.unpack({ diffId: sha(buf), parent, source: streamOf(buf, 777) });
    parent = r.info.chainId;
  }
  return parent as string;
}

function leftoverMounts(under: string): Promise<string[]> {
  return mountPoints().then((ms) => ms.filter((m) => m === under || m.startsWith(`${under}/`)));
}

async function mountedView(t: { after(fn: () => Promise<void>): void }, driver: 'overlay' | 'copy'): Promise<{ view: string[]; s: Snapshotter; target: string; root: string }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `berth-snapint-${driver}-`));
  const target = path.join(root, 'rootfs');
  fs.mkdirSync(target);
  const s = await Snapshotter.open({ root: path.join(root, 'store'), driver });
  t.after(async () => {
    for (const m of (await leftoverMounts(root)).reverse()) await run('umount', ['-l', m]);
    fs.rmSync(root, { recursive: true, force: true });
  });
  const top = await unpackAll(s);
  await s.prepare('ctr', top);
  await s.mount('ctr', target);
  const view = listing(target);
  return { view, s, target, root };
}

test('overlay: 3 layers with whiteouts and opaque dirs give the right merged view', { skip: !isRoot && 'needs root' }, async (t) => {
  const { view, s, target, root } = await mountedView(t, 'overlay');
  assert.equal(s.driver, 'overlay');
  const has = (line: string): void => assert.ok(view.includes(line), `${line}\nin\n${view.join('\n')}`);
  has('a file two nlink=1 644 0:0');
  has('d dir 755 0:0');
  has('d/x file x3 nlink=1 644 0:0');
  has('d/y file y1 nlink=1 644 0:0');
  has('keep dir 750 1000:1000');
  has('keep/k2 file k2 nlink=1 644 1000:1000');
  has('bin/tool file tool nlink=2 4755 0:0');
  has('bin/tool2 file tool nlink=2 4755 0:0');
  has('bin/sh link tool 777 0:0');
  has('bin/new file new nlink=1 644 0:0');
  has(`dev/null char ${(1 << 8) | 3} 666 0:0`);
  has('run/fifo fifo 600 0:0');
  has('tmp dir 1777 0:0');
  has('tmp/t file t nlink=1 644 0:0');
  for (const gone of ['keep/k1', 'only2', 'gone', 'gone/deep']) {
    assert.ok(!view.some((l) => l.startsWith(`${gone} `)), `${gone} hidden`);
  }
  // Writes go to the container's own layer only.
  fs.writeFileSync(path.join(target, 'a'), 'written');
  fs.rmSync(path.join(target, 'd/y'));
  assert.deepEqual(await s.mountedAt('ctr'), [target]);
  await assert.rejects(s.remove('ctr'), /still mounted/);
  await s.unmount(target);
  assert.deepEqual(await s.mountedAt('ctr'), []);
  assert.deepEqual(await leftoverMounts(root), []);
  const active = await s.statActive('ctr');
  assert.ok(active && active.parent);
  await s.withView(active.parent, async (dir) => {
    assert.equal(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'two', 'the layers are unchanged');
    assert.equal(fs.readFileSync(path.join(dir, 'd/y'), 'utf8'), 'y1');
    assert.ok((await leftoverMounts(root)).length === 1, 'the view is mounted while in use');
  });
  assert.deepEqual(await leftoverMounts(root), [], 'the view is unmounted');
  const u = await s.usage('ctr');
  assert.ok(u.inodes >= 2);
  await s.remove('ctr');
  assert.equal(await s.statActive('ctr'), null);
});

test('copy fallback: the same merged view as overlay', { skip: !isRoot && 'needs root' }, async (t) => {
  const o = await mountedView(t, 'overlay');
  await o.s.unmount(o.target);
  const c = await mountedView(t, 'copy');
  assert.equal(c.s.driver, 'copy');
  await c.s.unmount(c.target);
  assert.deepEqual(c.view, o.view);
  assert.deepEqual(await leftoverMounts(c.root), []);
  assert.deepEqual(await leftoverMounts(o.root), []);
});

test('overlay layer dirs hold overlay whiteouts; removal frees every directory', { skip: !isRoot && 'needs root' }, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-snapint-rm-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const s = await Snapshotter.open({ root, driver: 'overlay' });
  const top = await unpackAll(s);
  const layers = (await s.list()).filter((x) => x.kind === 'committed').sort((a, b) => a.id - b.id);
  assert.equal(layers.length, 3);
  const l2 = path.join(root, 'snapshots', String(layers[1].id), 'fs');
  const wh = fs.lstatSync(path.join(l2, 'd/x'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0:0 char device');
  const xattr = await run('getfattr', ['--absolute-names', '-n', 'trusted.overlay.opaque', '--only-values', path.join(l2, 'keep')]);
  assert.equal(xattr.stdout, 'y');
  // Implicit parent dir got the lower layer's mode.
  assert.equal(fs.statSync(path.join(l2, 'tmp')).mode & 0o7777, 0o1777);
  await s.prepare('c', top);
  await assert.rejects(s.removeLayer(top), /in use/);
  await s.remove('c');
  for (const l of [...layers].reverse()) await s.removeLayer(l.kind === 'committed' ? l.chainId : '');
  assert.deepEqual(await s.list(), []);
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')), []);
});

test('overlay: many layers fit one mount (short relative lowerdirs)', { skip: !isRoot && 'needs root' }, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-snapint-many-'));
  const target = path.join(root, 'rootfs');
  fs.mkdirSync(target);
  t.after(async () => {
    for (const m of (await leftoverMounts(root)).reverse()) await run('umount', ['-l', m]);
    fs.rmSync(root, { recursive: true, force: true });
  });
  const s = await Snapshotter.open({ root: path.join(root, 'store-with-a-rather-long-path-name-to-prove-the-point'), driver: 'overlay' });
  let parent: string | undefined;
  const N = 120;
  for (let i = 0; i < N; i++) {
    const buf = await buildLayer([{ type: 'file', name: `f${i}`, data: String(i) }]);
    parent = (await s.unpack({ diffId: sha(buf), parent, source: streamOf(buf) })).info.chainId;
  }
  const [m] = await s.prepare('many', parent);
  assert.ok(m.options.join(',').length > 4096, 'absolute options would not fit one page');
  await s.mount('many', target);
  assert.equal(fs.readdirSync(target).length, N);
  assert.equal(fs.readFileSync(path.join(target, 'f0'), 'utf8'), '0');
  await s.unmount(target);
  assert.deepEqual(await leftoverMounts(root), []);
});
