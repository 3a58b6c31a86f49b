/**
 * Symlinked directories in lower layers (Debian usrmerge: bin -> usr/bin): an upper layer's
 * `bin/hello` must land at usr/bin/hello, with bin still a symlink in the merged view, for both
 * drivers and also when the upper layer is unpacked before (or at the same time as) its parent.
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

async function withStore(
  t: { after(fn: () => Promise<void>): void },
  driver: 'overlay' | 'copy',
): Promise<{ s: Snapshotter; root: string; target: string }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `berth-symdir-${driver}-`));
  const target = path.join(root, 'rootfs');
  fs.mkdirSync(target);
  const s = await Snapshotter.open({ root: path.join(root, 'store'), driver });
  t.after(async () => {
    const ms = (await mountPoints()).filter((m) => m === root || m.startsWith(`${root}/`));
    for (const m of ms.reverse()) await run('umount', ['-l', m]);
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { s, root, target };
}

/** Unpacks the layers (bottom first), in order or all at once with the top ones started first. */
async function unpack(s: Snapshotter, layers: LayerEntry[][], parallel: boolean): Promise<string> {
  const bufs = await Promise.all(layers.map((l) => buildLayer(l)));
  const diffs = bufs.map(sha);
  const chains: string[] = [];
  for (let i = 0; i < diffs.length; i++) {
    chains.push(i === 0 ? diffs[0] : sha(Buffer.from(`${chains[i - 1]} ${diffs[i]}`)));
  }
  const one = (i: number) =>
    s.unpack({ diffId: diffs[i], parent: i === 0 ? undefined : chains[i - 1], chainId: chains[i], source: streamOf(bufs[i], 500) });
  if (!parallel || s.driver === 'copy') {
    for (let i = 0; i < bufs.length; i++) await one(i);
  } else {
    const order = bufs.map((_, i) => bufs.length - 1 - i); // top first: no parent on disk yet
    const ps: Promise<unknown>[] = [];
    for (const i of order) {
      ps.push(one(i));
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(ps);
  }
  return chains[chains.length - 1];
}

const USRMERGE: LayerEntry[][] = [
  [
    { type: 'dir', name: 'usr', mode: 0o755 },
    { type: 'dir', name: 'usr/bin', mode: 0o751 },
    { type: 'file', name: 'usr/bin/ls', data: 'ls' },
    { type: 'symlink', name: 'bin', target: 'usr/bin' },
    { type: 'symlink', name: 'lib', target: '/usr/lib' },
    { type: 'dir', name: 'usr/lib', mode: 0o755 },
  ],
  [
    { type: 'file', name: 'bin/hello', data: 'hello', mode: 0o755 },
    { type: 'file', name: 'lib/x/libx.so', data: 'libx' },
  ],
];

for (const driver of ['overlay', 'copy'] as const) {
  for (const parallel of driver === 'overlay' ? [false, true] : [false]) {
    test(`${driver}${parallel ? ' (parallel unpack)' : ''}: a write under a lower symlinked dir goes through it`, { skip: !isRoot && 'needs root' }, async (t) => {
      const { s, target } = await withStore(t, driver);
      const top = await unpack(s, USRMERGE, parallel);
      await s.prepare('ctr', top);
      await s.mount('ctr', target);
      try {
        assert.ok(fs.lstatSync(path.join(target, 'bin')).isSymbolicLink(), 'bin stays a symlink');
        assert.equal(fs.readlinkSync(path.join(target, 'bin')), 'usr/bin');
        assert.equal(fs.readFileSync(path.join(target, 'usr/bin/hello'), 'utf8'), 'hello');
        assert.equal(fs.readFileSync(path.join(target, 'usr/bin/ls'), 'utf8'), 'ls', 'the lower dir is merged, not hidden');
        assert.equal(fs.statSync(path.join(target, 'usr/bin')).mode & 0o7777, 0o751, 'parent metadata from the lower layer');
        assert.equal(fs.readFileSync(path.join(target, 'usr/lib/x/libx.so'), 'utf8'), 'libx', 'absolute link target, taken inside the root');
        assert.ok(fs.lstatSync(path.join(target, 'lib')).isSymbolicLink());
        if (driver === 'overlay') {
          const [own] = await s.layerDirs(top);
          assert.equal(fs.existsSync(path.join(own, 'bin')), false, 'no bin directory in the upper layer');
          assert.equal(fs.readFileSync(path.join(own, 'usr/bin/hello'), 'utf8'), 'hello');
          assert.equal(fs.statSync(path.join(own, 'usr/bin')).mode & 0o7777, 0o751);
        }
      } finally {
        await s.unmount(target);
      }
    });
  }

  test(`${driver}: hostile lower symlink (evil -> /etc) is followed inside the root only`, { skip: !isRoot && 'needs root' }, async (t) => {
    const { s, target, root } = await withStore(t, driver);
    const marker = `berth-symdir-${process.pid}-${Date.now()}`;
    const outsideDir = path.join(root, 'outside');
    fs.mkdirSync(outsideDir);
    const top = await unpack(s, [
      [
        { type: 'symlink', name: 'evil', target: '/etc' },
        { type: 'symlink', name: 'evil2', target: `../../../../../../..${outsideDir}` },
      ],
      [
        { type: 'file', name: `evil/${marker}`, data: 'x' },
        { type: 'file', name: 'evil2/y', data: 'y' },
      ],
    ], driver === 'overlay');
    assert.equal(fs.existsSync(path.join('/etc', marker)), false, 'nothing written to the host /etc');
    assert.deepEqual(fs.readdirSync(outsideDir), [], 'nothing written outside through a relative link');
    await s.prepare('ctr', top);
    await s.mount('ctr', target);
    try {
      assert.equal(fs.readFileSync(path.join(target, 'etc', marker), 'utf8'), 'x');
      assert.equal(fs.readFileSync(path.join(target, outsideDir.slice(1), 'y'), 'utf8'), 'y');
      assert.ok(fs.lstatSync(path.join(target, 'evil')).isSymbolicLink());
    } finally {
      await s.unmount(target);
    }
    assert.equal(fs.existsSync(path.join('/etc', marker)), false);
  });
}
