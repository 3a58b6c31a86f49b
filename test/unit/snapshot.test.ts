import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { chainIdOf, chainIds, Snapshotter } from '../../src/image/snapshot';
import { lock, tryLock } from '../../src/image/snapshot/lock';
import { BerthError } from '../../src/runtime/errors';
import { buildLayer, streamOf, type LayerEntry } from '../helpers/layers';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function tmpRoot(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-snap-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function layer(entries: LayerEntry[]): Promise<{ buf: Buffer; diffId: string }> {
  const buf = await buildLayer(entries);
  return { buf, diffId: sha(buf) };
}

function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

test('chain IDs follow the OCI definition', () => {
  const d1 = sha('layer1');
  const d2 = sha('layer2');
  const d3 = sha('layer3');
  assert.equal(chainIdOf(undefined, d1), d1);
  const c2 = sha(`${d1} ${d2}`);
  assert.equal(chainIdOf(d1, d2), c2);
  assert.deepEqual(chainIds([d1, d2, d3]), [d1, c2, sha(`${c2} ${d3}`)]);
  assert.throws(() => chainIdOf(undefined, 'sha256:xyz'), BerthError);
});

test('copy driver: layers stack into full trees, whiteouts applied', async (t) => {
  const root = tmpRoot(t);
  const s = await Snapshotter.open({ root, driver: 'copy' });
  assert.equal(s.driver, 'copy');
  const l1 = await layer([
    { type: 'file', name: 'a', data: 'a1' },
    { type: 'file', name: 'gone', data: 'x' },
    { type: 'dir', name: 'o' },
    { type: 'file', name: 'o/old', data: 'x' },
  ]);
  const l2 = await layer([
    { type: 'file', name: 'a', data: 'a2' },
    { type: 'whiteout', name: 'gone' },
    { type: 'dir', name: 'o' },
    { type: 'opaque', dir: 'o' },
    { type: 'file', name: 'o/new', data: 'y' },
  ]);
  const r1 = await s.unpack({ diffId: l1.diffId, source: streamOf(l1.buf) });
  assert.ok(r1.applied);
  const r2 = await s.unpack({ diffId: l2.diffId, parent: r1.info.chainId, source: () => streamOf(l2.buf) });
  assert.equal(r2.info.chainId, chainIdOf(l1.diffId, l2.diffId));
  await s.withView(r2.info.chainId, async (dir) => {
    assert.equal(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'a2');
    assert.equal(fs.existsSync(path.join(dir, 'gone')), false);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'o')), ['new']);
  });
  // The parent layer is untouched.
  await s.withView(r1.info.chainId, async (dir) => {
    assert.equal(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'a1');
  });
  // Unpacking again does nothing and does not call the source.
  const again = await s.unpack({
    diffId: l1.diffId,
    source: () => {
      throw new Error('must not be opened');
    },
  });
  assert.equal(again.applied, null);
  assert.equal(again.info.id, r1.info.id);

  // Active snapshot: a private copy.
  const mounts = await s.prepare('c1', r2.info.chainId);
  assert.equal(mounts[0].type, 'bind');
  fs.writeFileSync(path.join(mounts[0].source, 'a'), 'changed');
  await s.withView(r2.info.chainId, async (dir) => assert.equal(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'a2'));
  await assert.rejects(s.prepare('c1', r2.info.chainId), /already exists/);
  const usage = await s.usage('c1');
  assert.ok(usage.inodes >= 4 && usage.bytes > 0);

  const list = await s.list();
  assert.equal(list.filter((x) => x.kind === 'committed').length, 2);
  assert.equal(list.filter((x) => x.kind === 'active').length, 1);

  await assert.rejects(s.removeLayer(r2.info.chainId), /in use by c1/);
  await assert.rejects(s.removeLayer(r1.info.chainId), /in use by/);
  await s.remove('c1');
  await s.removeLayer(r2.info.chainId);
  await s.removeLayer(r1.info.chainId);
  assert.deepEqual(await s.list(), []);
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')), []);
});

test('a layer whose content does not match its diff ID is not committed', async (t) => {
  const root = tmpRoot(t);
  const s = await Snapshotter.open({ root, driver: 'copy' });
  const l1 = await layer([{ type: 'file', name: 'a', data: 'a1' }]);
  const wrong = sha('something else');
  await assert.rejects(s.unpack({ diffId: wrong, source: streamOf(l1.buf) }), /expected/);
  assert.equal(await s.stat(wrong), null);
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')), []);
  assert.deepEqual(fs.readdirSync(path.join(root, 'meta/committed')), []);
  await assert.rejects(s.unpack({ diffId: l1.diffId, chainId: wrong, source: streamOf(l1.buf) }), /does not match/);
});

test('a hostile layer fails the unpack and leaves nothing behind', async (t) => {
  const root = tmpRoot(t);
  const s = await Snapshotter.open({ root, driver: 'copy' });
  const bad = await layer([
    { type: 'file', name: 'a', data: 'a' },
    { type: 'link', name: 'l', target: '/etc/shadow' },
  ]);
  await assert.rejects(s.unpack({ diffId: bad.diffId, source: streamOf(bad.buf) }), BerthError);
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')), []);
});

test('concurrent unpacks of one chain ID unpack it once', async (t) => {
  const root = tmpRoot(t);
  const s1 = await Snapshotter.open({ root, driver: 'copy' });
  const s2 = await Snapshotter.open({ root }); // a second opener of the same store (as another process would)
  assert.equal(s2.driver, 'copy');
  const entries: LayerEntry[] = [];
  for (let i = 0; i < 300; i++) entries.push({ type: 'file', name: `f${i}`, data: `x${i}` });
  const l = await layer(entries);
  let opened = 0;
  const src = (): Readable => {
    opened++;
    return streamOf(l.buf, 512);
  };
  const results = await Promise.all([
    s1.unpack({ diffId: l.diffId, source: src }),
    s2.unpack({ diffId: l.diffId, source: src }),
    s1.unpack({ diffId: l.diffId, source: src }),
    s2.unpack({ diffId: l.diffId, source: src }),
  ]);
  assert.equal(opened, 1);
  assert.equal(results.filter((r) => r.applied !== null).length, 1);
  assert.equal(new Set(results.map((r) => r.info.id)).size, 1);
  assert.equal(fs.readdirSync(path.join(root, 'snapshots')).length, 1);
});

test('crash debris is cleaned on open: temp dirs of dead processes, unreferenced snapshots', async (t) => {
  const root = tmpRoot(t);
  const s = await Snapshotter.open({ root, driver: 'copy' });
  const l = await layer([{ type: 'file', name: 'a', data: 'a' }]);
  const r = await s.unpack({ diffId: l.diffId, source: streamOf(l.buf) });
  const dead = deadPid();
  const snaps = path.join(root, 'snapshots');
  fs.mkdirSync(path.join(snaps, `tmp-${dead}-abc/fs`), { recursive: true });
  fs.writeFileSync(path.join(snaps, `tmp-${dead}-abc/fs/half`), 'half-extracted');
  // A layer renamed into place whose metadata was never written.
  fs.mkdirSync(path.join(snaps, '77/fs'), { recursive: true });
  fs.writeFileSync(path.join(snaps, '77/ref'), `committed ${'ab'.repeat(32)}\n`);
  // A stale lock left by a dead process.
  fs.mkdirSync(path.join(root, 'locks', `chain-${'cd'.repeat(32)}`));
  fs.writeFileSync(path.join(root, 'locks', `chain-${'cd'.repeat(32)}`, 'owner'), `${dead} 1`);
  const s2 = await Snapshotter.open({ root });
  assert.deepEqual(fs.readdirSync(snaps), [String(r.info.id)]);
  assert.ok(await s2.stat(r.info.chainId));
  // The stale lock can be taken.
  const release = await lock(path.join(root, 'locks', `chain-${'cd'.repeat(32)}`), 2000);
  await release();
});

test('locks: exclusive while held, free after release', async (t) => {
  const root = tmpRoot(t);
  const l = path.join(root, 'l');
  const r1 = await tryLock(l);
  assert.ok(r1);
  assert.equal(await tryLock(l), null);
  await assert.rejects(lock(l, 100), /timed out/);
  await r1();
  const r2 = await tryLock(l);
  assert.ok(r2);
  await r2();
});

test('driver choice is recorded and enforced', async (t) => {
  const root = tmpRoot(t);
  await Snapshotter.open({ root, driver: 'copy' });
  assert.equal(fs.readFileSync(path.join(root, 'driver'), 'utf8').trim(), 'copy');
  await assert.rejects(Snapshotter.open({ root, driver: 'overlay' }), /uses the copy driver/);
});

test('overlay driver mounts are relative to the store and stack topmost first', async (t) => {
  const root = tmpRoot(t);
  // Unit level: no mount is made; the overlay layers are unpacked (whiteouts need mknod: root only).
  const s = await Snapshotter.open({ root, driver: 'overlay' });
  const l1 = await layer([{ type: 'file', name: 'a', data: 'a' }]);
  const l2 = await layer([{ type: 'file', name: 'b', data: 'b' }]);
  const r1 = await s.unpack({ diffId: l1.diffId, source: streamOf(l1.buf) });
  const r2 = await s.unpack({ diffId: l2.diffId, parent: r1.info.chainId, source: streamOf(l2.buf) });
  const [m] = await s.prepare('c', r2.info.chainId);
  const snaps = path.join(root, 'snapshots');
  assert.equal(m.type, 'overlay');
  const opt = (k: string): string | undefined => m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  assert.equal(opt('lowerdir'), `${snaps}/${r2.info.id}/fs:${snaps}/${r1.info.id}/fs`);
  assert.ok(opt('upperdir')?.endsWith('/fs'));
  assert.ok(opt('workdir')?.endsWith('/work'));
  await s.remove('c');
});

test('kill -9 in the middle of an unpack leaves a store the next unpack completes', async (t) => {
  const root = tmpRoot(t);
  const entries: LayerEntry[] = [];
  for (let i = 0; i < 400; i++) entries.push({ type: 'file', name: `d/f${i}`, data: Buffer.alloc(2048, i & 0xff) });
  const l = await layer(entries);
  const layerFile = path.join(root, 'layer.tar');
  fs.writeFileSync(layerFile, l.buf);
  // A child process unpacks the layer slowly (64 KiB every 50 ms) and is killed half way.
  const script = `
    const { Snapshotter } = require(${JSON.stringify(path.resolve(__dirname, '../../src/image/snapshot'))});
    const fs = require('fs');
    const { Readable } = require('stream');
    const buf = fs.readFileSync(${JSON.stringify(layerFile)});
    async function* slow() { for (let i = 0; i < buf.length; i += 65536) { yield buf.subarray(i, i + 65536); await new Promise((r) => setTimeout(r, 50)); } }
    Snapshotter.open({ root: ${JSON.stringify(path.join(root, 'store'))}, driver: 'copy' })
      .then((s) => s.unpack({ diffId: ${JSON.stringify(l.diffId)}, source: Readable.from(slow()) }));
  `;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const snaps = path.join(root, 'store', 'snapshots');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const tmpDirs = fs.existsSync(snaps) ? fs.readdirSync(snaps).filter((n) => n.startsWith('tmp-')) : [];
    if (tmpDirs.length > 0 && fs.existsSync(path.join(snaps, tmpDirs[0], 'fs/d'))) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.ok(fs.readdirSync(snaps).some((n) => n.startsWith('tmp-')), 'killed mid-unpack');
  assert.equal(fs.readdirSync(path.join(root, 'store/locks')).length, 1, 'its lock is left behind');

  const s = await Snapshotter.open({ root: path.join(root, 'store') });
  assert.deepEqual(fs.readdirSync(snaps), [], 'temp dir of the dead unpacker removed');
  assert.equal(await s.stat(l.diffId), null);
  const r = await s.unpack({ diffId: l.diffId, source: streamOf(l.buf) });
  assert.ok(r.applied);
  await s.withView(r.info.chainId, async (dir) => assert.equal(fs.readdirSync(path.join(dir, 'd')).length, 400));
});

for (const driver of ['copy', 'overlay'] as const) {
  test(`unpackLayers (${driver}): every layer once, chain IDs in order`, async (t) => {
    const root = tmpRoot(t);
    const s = await Snapshotter.open({ root, driver });
    const layers = await Promise.all([0, 1, 2, 3].map((i) => layer([{ type: 'file', name: `f${i}`, data: String(i) }, { type: 'file', name: 'top', data: String(i) }])));
    const { unpackLayers } = await import('../../src/image/snapshot');
    const seen: number[] = [];
    const infos = await unpackLayers(s, layers.map((l) => ({ diffId: l.diffId, source: () => streamOf(l.buf) })), {
      onLayer: (i) => seen.push(i),
    });
    assert.deepEqual(infos.map((x) => x.chainId), chainIds(layers.map((l) => l.diffId)));
    assert.deepEqual(seen.sort(), [0, 1, 2, 3]);
    if (driver === 'copy') {
      await s.withView(infos[3].chainId, async (dir) => {
        assert.deepEqual(fs.readdirSync(dir).sort(), ['f0', 'f1', 'f2', 'f3', 'top']);
        assert.equal(fs.readFileSync(path.join(dir, 'top'), 'utf8'), '3');
      });
    } else {
      assert.equal((await s.layerDirs(infos[3].chainId)).length, 4);
    }
    const again = await unpackLayers(s, layers.map((l) => ({ diffId: l.diffId, source: () => { throw new Error('not again'); } })));
    assert.deepEqual(again.map((x) => x.id), infos.map((x) => x.id));
  });
}

test('overlay: a layer started before its parent waits for it to resolve directories it has no header for', async (t) => {
  const root = tmpRoot(t);
  const s = await Snapshotter.open({ root, driver: 'overlay' });
  const l1 = await layer([{ type: 'dir', name: 'tmp', mode: 0o1777, mtime: 1_234_567_890 }, { type: 'dir', name: 'tmp/deep', mode: 0o700, mtime: 1_234_500_000 }]);
  const l2 = await layer([{ type: 'file', name: 'tmp/deep/x', data: 'x' }]);
  // The child first, as a parallel pull may start it first: it needs the parent's tree for tmp/deep.
  const p2 = s.unpack({ diffId: l2.diffId, parent: l1.diffId, source: streamOf(l2.buf) });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await s.stat(chainIds([l1.diffId, l2.diffId])[1]), null, 'the child waits for its parent');
  await s.unpack({ diffId: l1.diffId, source: streamOf(l1.buf) });
  const r2 = await p2;
  assert.equal(r2.info.pendingDirs, undefined);
  const dir2 = path.join(root, 'snapshots', String(r2.info.id), 'fs');
  await s.settle(r2.info.chainId);
  assert.equal(fs.statSync(path.join(dir2, 'tmp')).mode & 0o7777, 0o1777);
  assert.equal(fs.statSync(path.join(dir2, 'tmp')).mtimeMs, 1_234_567_890_000);
  assert.equal(fs.statSync(path.join(dir2, 'tmp/deep')).mode & 0o7777, 0o700);
  assert.equal(fs.statSync(path.join(dir2, 'tmp/deep')).mtimeMs, 1_234_500_000_000);
  assert.equal((await s.stat(r2.info.chainId))?.pendingDirs, undefined);
  // In order, nothing is pending.
  const root2 = tmpRoot(t);
  const s2 = await Snapshotter.open({ root: root2, driver: 'overlay' });
  await s2.unpack({ diffId: l1.diffId, source: streamOf(l1.buf) });
  const r = await s2.unpack({ diffId: l2.diffId, parent: l1.diffId, source: streamOf(l2.buf) });
  assert.equal(r.info.pendingDirs, undefined);
  assert.equal(fs.statSync(path.join(root2, 'snapshots', String(r.info.id), 'fs/tmp')).mode & 0o7777, 0o1777);
});

test('concurrent unpacks from separate processes: one unpacks, the others find it', async (t) => {
  const root = tmpRoot(t);
  const entries: LayerEntry[] = [];
  for (let i = 0; i < 500; i++) entries.push({ type: 'file', name: `f${i}`, data: Buffer.alloc(1000, i & 0xff) });
  const l = await layer(entries);
  const layerFile = path.join(root, 'layer.tar');
  fs.writeFileSync(layerFile, l.buf);
  const script = `
    const { Snapshotter } = require(${JSON.stringify(path.resolve(__dirname, '../../src/image/snapshot'))});
    const fs = require('fs');
    Snapshotter.open({ root: ${JSON.stringify(path.join(root, 'store'))}, driver: 'copy' })
      .then((s) => s.unpack({ diffId: ${JSON.stringify(l.diffId)}, source: () => fs.createReadStream(${JSON.stringify(layerFile)}, { highWaterMark: 4096 }) }))
      .then((r) => { process.stdout.write(JSON.stringify({ applied: r.applied !== null, id: r.info.id })); })
      .catch((e) => { process.stderr.write(String(e && e.stack)); process.exit(1); });
  `;
  const { spawn } = await import('node:child_process');
  const runOne = (): Promise<{ applied: boolean; id: number }> =>
    new Promise((resolve, reject) => {
      const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { applied: boolean; id: number }) : reject(new Error(err))));
    });
  const results = await Promise.all([runOne(), runOne(), runOne(), runOne()]);
  assert.equal(results.filter((r) => r.applied).length, 1, JSON.stringify(results));
  assert.equal(new Set(results.map((r) => r.id)).size, 1);
  assert.deepEqual(fs.readdirSync(path.join(root, 'store/snapshots')), [String(results[0].id)]);
  assert.deepEqual(fs.readdirSync(path.join(root, 'store/locks')), []);
});

for (const driver of ['copy', 'overlay'] as const) {
  test(`pullUnpacker (${driver}): all layer streams at once, children before parents`, async (t) => {
    const root = tmpRoot(t);
    const s = await Snapshotter.open({ root, driver });
    const { pullUnpacker } = await import('../../src/image/snapshot');
    const layers = await Promise.all(
      [0, 1, 2].map((i) => layer([{ type: 'dir', name: 'd', mode: 0o750 }, { type: 'file', name: `d/f${i}`, data: Buffer.alloc(200_000, i) }, { type: 'file', name: 'top', data: String(i) }])),
    );
    const ids = chainIds(layers.map((l) => l.diffId));
    const hook = pullUnpacker(s);
    // Streams that only progress while read, as a download does.
    const slow = (buf: Buffer): Readable => {
      async function* gen(): AsyncGenerator<Buffer> {
        for (let i = 0; i < buf.length; i += 16384) {
          await new Promise((r) => setTimeout(r, 1));
          yield buf.subarray(i, i + 16384);
        }
      }
      return Readable.from(gen(), { highWaterMark: 1 });
    };
    const infos = [2, 1, 0].map((i) => ({ index: i, diffId: layers[i].diffId, chainId: ids[i], parentChainId: i ? ids[i - 1] : undefined }));
    assert.equal(await hook.wantLayerStream(infos[0]), true);
    await Promise.all(infos.map((info) => hook.onLayerStream(info, slow(layers[info.index].buf))));
    assert.equal(await hook.wantLayerStream(infos[0]), false);
    // The same layer handed again (a second pull): read to its end and dropped.
    const again = slow(layers[0].buf);
    let ended = false;
    again.on('end', () => (ended = true));
    await hook.onLayerStream(infos[2], again);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(ended, 'a stream not needed is still read to its end');
    await s.settle(ids[2]);
    if (driver === 'copy') {
      await s.withView(ids[2], async (dir) => {
        assert.deepEqual(fs.readdirSync(path.join(dir, 'd')).sort(), ['f0', 'f1', 'f2']);
        assert.equal(fs.readFileSync(path.join(dir, 'top'), 'utf8'), '2');
      });
    } else {
      const dirs = await s.layerDirs(ids[2]);
      assert.equal(dirs.length, 3);
      assert.equal(fs.readFileSync(path.join(dirs[0], 'top'), 'utf8'), '2');
    }
    assert.equal(fs.readdirSync(path.join(root, 'snapshots')).filter((n) => n.startsWith('tmp-')).length, 0);
  });
}

test('when a concurrent unpack of the same layer fails, the other caller unpacks from its own source', async (t) => {
  const root = tmpRoot(t);
  const s = await Snapshotter.open({ root, driver: 'copy' });
  const l = await layer([{ type: 'file', name: 'a', data: Buffer.alloc(100_000, 1) }]);
  const broken = new Readable({ read() {} });
  broken.push(l.buf.subarray(0, 10_000));
  setTimeout(() => broken.destroy(new Error('connection reset')), 50);
  const [r1, r2] = await Promise.allSettled([
    s.unpack({ diffId: l.diffId, source: broken }),
    s.unpack({ diffId: l.diffId, source: streamOf(l.buf) }),
  ]);
  assert.equal(r1.status, 'rejected');
  assert.equal(r2.status, 'fulfilled');
  assert.ok(r2.status === 'fulfilled' && r2.value.applied);
  assert.ok(await s.stat(l.diffId));
});
