import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { applyLayer, type ApplyOptions } from '../../src/image/unpack';
import { BerthError } from '../../src/runtime/errors';
import { buildLayer, paxBlock, rawHeader, streamOf, type LayerEntry } from '../helpers/layers';

interface Sandbox {
  dir: string;
  target: string;
  outside: string;
}

function sandbox(t: { after(fn: () => void): void }): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-unpack-'));
  const target = path.join(dir, 'target');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(target);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(dir, 'x'), 'sentinel');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, target, outside };
}

/** Nothing outside `target` changed: `outside` is empty and the sandbox holds only what we put there. */
function assertContained(s: Sandbox): void {
  assert.deepEqual(fs.readdirSync(s.outside), [], 'nothing written into the sentinel directory');
  assert.deepEqual(fs.readdirSync(s.dir).sort(), ['outside', 'target', 'x']);
  assert.equal(fs.readFileSync(path.join(s.dir, 'x'), 'utf8'), 'sentinel');
}

async function apply(s: Sandbox, entries: LayerEntry[], opts: ApplyOptions = {}, chunk?: number) {
  const buf = await buildLayer(entries);
  const r = await applyLayer(streamOf(buf, chunk), s.target, { ownership: false, ...opts });
  return { r, buf };
}

test('regular files, dirs, symlinks, hard links, modes and times', async (t) => {
  const s = sandbox(t);
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const { r, buf } = await apply(
    s,
    [
      { type: 'dir', name: 'etc/', mode: 0o751, mtime: 1_600_000_000 },
      { type: 'file', name: 'etc/hosts', data: 'hello\n', mode: 0o640, mtime: 1_600_000_100 },
      { type: 'file', name: 'usr/bin/su', data: 'su', mode: 0o4755 },
      { type: 'dir', name: 'tmp', mode: 0o1777 },
      { type: 'file', name: 'big', data: big },
      { type: 'symlink', name: 'etc/link', target: '../big' },
      { type: 'link', name: 'etc/hosts2', target: 'etc/hosts' },
      { type: 'file', name: 'empty', data: '' },
    ],
    {},
    1000,
  );
  assert.equal(r.diffId, `sha256:${createHash('sha256').update(buf).digest('hex')}`);
  assert.equal(r.size, buf.length);
  assert.equal(r.entries, 8);
  const T = s.target;
  assert.equal(fs.readFileSync(path.join(T, 'etc/hosts'), 'utf8'), 'hello\n');
  assert.equal(fs.statSync(path.join(T, 'etc/hosts')).mode & 0o7777, 0o640);
  assert.equal(fs.statSync(path.join(T, 'etc/hosts')).mtimeMs, 1_600_000_100_000);
  assert.equal(fs.statSync(path.join(T, 'etc')).mode & 0o7777, 0o751);
  assert.equal(fs.statSync(path.join(T, 'etc')).mtimeMs, 1_600_000_000_000, 'dir mtime set after its contents');
  assert.equal(fs.statSync(path.join(T, 'usr/bin/su')).mode & 0o7777, 0o4755);
  assert.equal(fs.statSync(path.join(T, 'tmp')).mode & 0o7777, 0o1777);
  assert.ok(fs.readFileSync(path.join(T, 'big')).equals(big));
  assert.equal(fs.readlinkSync(path.join(T, 'etc/link')), '../big');
  assert.equal(fs.statSync(path.join(T, 'etc/hosts2')).ino, fs.statSync(path.join(T, 'etc/hosts')).ino);
  assert.equal(fs.statSync(path.join(T, 'empty')).size, 0);
  assert.equal(r.fileBytes, 6 + 2 + big.length);
  assertContained(s);
});

test('long names survive (PAX and GNU long paths)', async (t) => {
  const s = sandbox(t);
  const long = `${'d'.repeat(120)}/${'e'.repeat(150)}/${'f'.repeat(200)}`;
  await apply(s, [
    { type: 'file', name: long, data: 'deep' },
    { type: 'symlink', name: 'l', target: long },
  ]);
  assert.equal(fs.readFileSync(path.join(s.target, long), 'utf8'), 'deep');
  assert.equal(fs.readlinkSync(path.join(s.target, 'l')), long);
});

test('hostile: ../../etc/passwd stays inside', async (t) => {
  const s = sandbox(t);
  const { r } = await apply(s, [
    { type: 'file', name: '../../etc/passwd', data: 'pwned' },
    { type: 'file', name: '../x', data: 'pwned' },
  ]);
  assert.match(r.warnings.join('\n'), /"..\/..\/etc\/passwd" points outside the layer; extracted as "etc\/passwd"/);
  assert.equal(fs.readFileSync(path.join(s.target, 'etc/passwd'), 'utf8'), 'pwned');
  assert.equal(fs.readFileSync(path.join(s.target, 'x'), 'utf8'), 'pwned');
  assertContained(s);
});

test('hostile: absolute path is made relative', async (t) => {
  const s = sandbox(t);
  await apply(s, [{ type: 'file', name: `${s.outside}/abs`, data: 'pwned' }]);
  assert.equal(fs.readFileSync(path.join(s.target, s.outside, 'abs'), 'utf8'), 'pwned');
  assertContained(s);
});

test('hostile: symlink to an absolute outside path, then a write through it', async (t) => {
  const s = sandbox(t);
  await apply(s, [
    { type: 'symlink', name: 'evil', target: s.outside },
    { type: 'file', name: 'evil/pwned', data: 'pwned' },
  ]);
  assertContained(s);
  // Followed as if the layer root were "/": the file lands under the root.
  assert.equal(fs.readFileSync(path.join(s.target, s.outside, 'pwned'), 'utf8'), 'pwned');
  assert.equal(fs.readlinkSync(path.join(s.target, 'evil')), s.outside);
});

test('hostile: symlink to ../../.. then a write through it', async (t) => {
  const s = sandbox(t);
  await apply(s, [
    { type: 'symlink', name: 'up', target: '../../..' },
    { type: 'file', name: 'up/outside/pwned', data: 'pwned' },
    { type: 'symlink', name: 'a/b/sib', target: '../../../outside' },
    { type: 'file', name: 'a/b/sib/pwned2', data: 'pwned' },
  ]);
  assertContained(s);
  assert.equal(fs.readFileSync(path.join(s.target, 'outside/pwned'), 'utf8'), 'pwned');
  assert.equal(fs.readFileSync(path.join(s.target, 'outside/pwned2'), 'utf8'), 'pwned');
});

test('hostile: symlink as the final component is replaced, never written through', async (t) => {
  const s = sandbox(t);
  await apply(s, [
    { type: 'symlink', name: 'f', target: path.join(s.dir, 'x') },
    { type: 'file', name: 'f', data: 'new' },
    { type: 'symlink', name: 'd', target: s.outside },
    { type: 'dir', name: 'd', mode: 0o700 },
  ]);
  assertContained(s);
  assert.equal(fs.lstatSync(path.join(s.target, 'f')).isFile(), true);
  assert.equal(fs.lstatSync(path.join(s.target, 'd')).isDirectory(), true);
});

test('hostile: hard link to /etc/passwd is refused', async (t) => {
  const s = sandbox(t);
  await assert.rejects(
    apply(s, [{ type: 'link', name: 'passwd', target: '/etc/passwd' }]),
    (err: unknown) => err instanceof BerthError && /does not exist in the layer/.test(err.message),
  );
  assert.equal(fs.existsSync(path.join(s.target, 'passwd')), false);
  assertContained(s);
});

test('hostile: hard link to ../../x resolves inside the layer only', async (t) => {
  const s = sandbox(t);
  // ../x would be the sentinel next to the target: refused because the layer has no x.
  await assert.rejects(apply(s, [{ type: 'link', name: 'l', target: '../x' }]), BerthError);
  assertContained(s);
  // With an x inside the layer, the clamped name links to that one.
  await apply(s, [
    { type: 'file', name: 'x', data: 'inner' },
    { type: 'link', name: 'l', target: '../../x' },
  ]);
  assert.equal(fs.statSync(path.join(s.target, 'l')).ino, fs.statSync(path.join(s.target, 'x')).ino);
  assert.notEqual(fs.statSync(path.join(s.target, 'l')).ino, fs.statSync(path.join(s.dir, 'x')).ino);
  assertContained(s);
});

test('hostile: hard link through a symlinked directory stays inside', async (t) => {
  const s = sandbox(t);
  await assert.rejects(
    apply(s, [
      { type: 'symlink', name: 'out', target: s.dir },
      { type: 'link', name: 'l', target: 'out/x' },
    ]),
    BerthError,
  );
  assertContained(s);
});

test('hostile: hard link to a directory is refused', async (t) => {
  const s = sandbox(t);
  await assert.rejects(
    apply(s, [
      { type: 'dir', name: 'd' },
      { type: 'link', name: 'l', target: 'd' },
    ]),
    /is a directory/,
  );
});

test('hostile: absurd size header is rejected before any data is read', async (t) => {
  const s = sandbox(t);
  const started = Date.now();
  await assert.rejects(
    apply(s, [{ type: 'raw', name: 'huge', size: 2 ** 45, data: Buffer.from('abc') }]),
    (err: unknown) => err instanceof BerthError && /exceeds the limit/.test(err.message),
  );
  assert.ok(Date.now() - started < 5000);
  assert.equal(fs.existsSync(path.join(s.target, 'huge')), false);
  assertContained(s);
});

test('hostile: configurable size limit', async (t) => {
  const s = sandbox(t);
  await assert.rejects(apply(s, [{ type: 'file', name: 'f', data: Buffer.alloc(2000) }], { maxEntrySize: 1000 }), /exceeds the limit/);
  await assert.rejects(
    apply(s, [
      { type: 'file', name: 'a', data: Buffer.alloc(600) },
      { type: 'file', name: 'b', data: Buffer.alloc(600) },
    ], { maxTotalSize: 1000 }),
    /exceeds the limit/,
  );
  await assert.rejects(apply(s, [{ type: 'file', name: 'a' }, { type: 'file', name: 'b' }], { maxEntries: 1 }), /entries/);
});

test('hostile: duplicated entries, the later wins', async (t) => {
  const s = sandbox(t);
  await apply(s, [
    { type: 'file', name: 'f', data: 'first' },
    { type: 'file', name: 'f', data: 'second', mode: 0o600 },
    { type: 'file', name: 'd', data: 'file' },
    { type: 'dir', name: 'd', mode: 0o755 },
    { type: 'file', name: 'd/in', data: 'in' },
    { type: 'dir', name: 'e' },
    { type: 'file', name: 'e/old', data: 'old' },
    { type: 'file', name: 'e', data: 'now a file' },
    { type: 'dir', name: 'g', mode: 0o700 },
    { type: 'dir', name: 'g', mode: 0o750 },
  ]);
  const T = s.target;
  assert.equal(fs.readFileSync(path.join(T, 'f'), 'utf8'), 'second');
  assert.equal(fs.statSync(path.join(T, 'f')).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(path.join(T, 'd/in'), 'utf8'), 'in');
  assert.equal(fs.readFileSync(path.join(T, 'e'), 'utf8'), 'now a file');
  assert.equal(fs.statSync(path.join(T, 'g')).mode & 0o777, 0o750);
  assertContained(s);
});

test('hostile: whiteout pointing outside (../.wh.x) only affects the layer', async (t) => {
  const s = sandbox(t);
  fs.writeFileSync(path.join(s.target, 'x'), 'lower');
  await apply(s, [{ type: 'file', name: '../.wh.x' }]);
  assert.equal(fs.existsSync(path.join(s.target, 'x')), false);
  assertContained(s);
  await assert.rejects(apply(s, [{ type: 'file', name: 'a/.wh...' }]), /malformed whiteout/);
  assertContained(s);
});

test('hostile: symlink replacing an extracted directory, then a write into it', async (t) => {
  const s = sandbox(t);
  await apply(s, [
    { type: 'dir', name: 'a', mode: 0o700 },
    { type: 'file', name: 'a/f', data: 'x' },
    { type: 'symlink', name: 'a', target: s.outside },
    { type: 'file', name: 'a/pwned', data: 'pwned' },
    { type: 'symlink', name: 'b', target: '../outside' },
    { type: 'dir', name: 'b/sub', mode: 0o777 },
  ]);
  assertContained(s);
  assert.equal(fs.lstatSync(path.join(s.target, 'a')).isSymbolicLink(), true);
  assert.equal(fs.readFileSync(path.join(s.target, s.outside, 'pwned'), 'utf8'), 'pwned');
  assert.equal(fs.statSync(path.join(s.target, 'outside/sub')).isDirectory(), true);
  // The dir's final chmod did not go through the symlink to the sentinel.
  assert.notEqual(fs.statSync(s.outside).mode & 0o777, 0o777);
});

test('hostile: a regular file used as a parent directory is an error', async (t) => {
  const s = sandbox(t);
  await assert.rejects(
    apply(s, [
      { type: 'file', name: 'f', data: 'x' },
      { type: 'file', name: 'f/g', data: 'y' },
    ]),
    /not a directory/,
  );
  assertContained(s);
});

test('hostile: symlink loops are an error', async (t) => {
  const s = sandbox(t);
  await assert.rejects(
    apply(s, [
      { type: 'symlink', name: 'a', target: 'b' },
      { type: 'symlink', name: 'b', target: 'a' },
      { type: 'file', name: 'a/x', data: 'y' },
    ]),
    /too many levels/,
  );
  assertContained(s);
});

test('hostile: truncated and corrupt tars fail cleanly', async (t) => {
  const s = sandbox(t);
  const buf = await buildLayer([{ type: 'file', name: 'f', data: Buffer.alloc(100_000, 1) }]);
  await assert.rejects(applyLayer(streamOf(buf.subarray(0, 50_000)), s.target, { ownership: false }), BerthError);
  const bad = Buffer.from(buf);
  bad[0] ^= 0xff;
  await assert.rejects(applyLayer(streamOf(bad), s.target, { ownership: false }), /Invalid tar header|applying layer/);
  assertContained(s);
});

test('device nodes: skipped with a warning or refused, by option', async (t) => {
  const s = sandbox(t);
  const { r } = await apply(s, [{ type: 'char', name: 'dev/null', major: 1, minor: 3 }], { devices: 'skip' });
  assert.equal(fs.existsSync(path.join(s.target, 'dev/null')), false);
  assert.match(r.warnings.join('\n'), /device node skipped/);
  await assert.rejects(apply(s, [{ type: 'block', name: 'dev/sda', major: 8, minor: 0 }], { devices: 'reject' }), /not allowed/);
});

test('fifo entries become fifos', async (t) => {
  const s = sandbox(t);
  await apply(s, [{ type: 'fifo', name: 'run/p', mode: 0o620 }]);
  const st = fs.lstatSync(path.join(s.target, 'run/p'));
  assert.equal(st.isFIFO(), true);
  assert.equal(st.mode & 0o777, 0o620);
});

test('whiteouts and opaque directories delete lower content (delete mode)', async (t) => {
  const s = sandbox(t);
  const T = s.target;
  fs.mkdirSync(path.join(T, 'keep'));
  fs.writeFileSync(path.join(T, 'keep/gone'), 'lower');
  fs.writeFileSync(path.join(T, 'keep/stay'), 'lower');
  fs.mkdirSync(path.join(T, 'opq/sub'), { recursive: true });
  fs.writeFileSync(path.join(T, 'opq/old'), 'lower');
  fs.writeFileSync(path.join(T, 'opq/sub/old'), 'lower');
  await apply(s, [
    { type: 'whiteout', name: 'keep/gone' },
    { type: 'dir', name: 'opq' },
    { type: 'file', name: 'opq/new', data: 'upper' },
    { type: 'opaque', dir: 'opq' },
    { type: 'whiteout', name: 'nonexistent/thing' },
  ]);
  assert.deepEqual(fs.readdirSync(path.join(T, 'keep')), ['stay']);
  assert.deepEqual(fs.readdirSync(path.join(T, 'opq')), ['new']);
  assert.equal(fs.existsSync(path.join(T, 'nonexistent')), false);
  assertContained(s);
});

test('sparse files (GNU sparse 1.0) are expanded with holes', async (t) => {
  const s = sandbox(t);
  const a = Buffer.alloc(4096, 0x61);
  const b = Buffer.alloc(100, 0x62);
  const realSize = 64 * 1024 * 1024;
  await apply(s, [
    { type: 'sparse', name: 'var/sparse.img', realSize, segments: [[0, a], [32 * 1024 * 1024, b]] },
  ]);
  const p = path.join(s.target, 'var/sparse.img');
  const st = fs.statSync(p);
  assert.equal(st.size, realSize);
  assert.ok(st.blocks * 512 < 1024 * 1024, `holes kept (${st.blocks} blocks)`);
  const fd = fs.openSync(p, 'r');
  try {
    const got = Buffer.alloc(4096);
    fs.readSync(fd, got, 0, 4096, 0);
    assert.ok(got.equals(a));
    const got2 = Buffer.alloc(102);
    fs.readSync(fd, got2, 0, 102, 32 * 1024 * 1024 - 1);
    assert.equal(got2[0], 0);
    assert.ok(got2.subarray(1, 101).equals(b));
    assert.equal(got2[101], 0);
  } finally {
    fs.closeSync(fd);
  }
  assert.equal(fs.existsSync(path.join(s.target, 'var/GNUSparseFile.0')), false);
});

const haveSetfattr = spawnSync('setfattr', ['--version']).status === 0;

test('xattrs from PAX headers, binary values kept byte for byte', { skip: !haveSetfattr && 'setfattr missing' }, async (t) => {
  const s = sandbox(t);
  const bin = Buffer.from([0x00, 0xff, 0x80, 0x01, 0xc3, 0x28]);
  const { r } = await apply(s, [
    { type: 'file', name: 'f', data: 'x', xattrs: { 'user.bin': bin, 'user.text': 'hello', 'trusted.overlay.opaque': 'y' } },
    { type: 'dir', name: 'd', xattrs: { 'user.dir': 'v' } },
  ]);
  const out = spawnSync('getfattr', ['--absolute-names', '-d', '-e', 'hex', '-m', '-', path.join(s.target, 'f')], { encoding: 'utf8' });
  assert.match(out.stdout, new RegExp(`user.bin=0x${bin.toString('hex')}`));
  assert.match(out.stdout, new RegExp(`user.text=0x${Buffer.from('hello').toString('hex')}`));
  assert.doesNotMatch(out.stdout, /trusted.overlay/);
  assert.match(r.warnings.join('\n'), /trusted.overlay.opaque ignored/);
  const outd = spawnSync('getfattr', ['--absolute-names', '-d', '-m', 'user.', path.join(s.target, 'd')], { encoding: 'utf8' });
  assert.match(outd.stdout, /user.dir="v"/);
});

for (const smallFiles of ['inline', 'background'] as const) {
  test(`many small files, ${smallFiles} writes, modes kept`, async (t) => {
    const s = sandbox(t);
    const entries: LayerEntry[] = [];
    for (let i = 0; i < 2000; i++) entries.push({ type: 'file', name: `d${i % 20}/f${i}`, data: `content ${i}`, mode: i % 2 ? 0o600 : 0o2755 });
    entries.push({ type: 'file', name: 'd0/f0', data: 'replaced' });
    const { r } = await apply(s, entries, { smallFiles }, 4096);
    assert.equal(r.entries, 2001);
    for (const i of [1, 999, 1999]) {
      const p = path.join(s.target, `d${i % 20}/f${i}`);
      assert.equal(fs.readFileSync(p, 'utf8'), `content ${i}`);
      assert.equal(fs.statSync(p).mode & 0o7777, 0o600);
    }
    assert.equal(fs.statSync(path.join(s.target, 'd2/f2')).mode & 0o7777, 0o2755);
    assert.equal(fs.readFileSync(path.join(s.target, 'd0/f0'), 'utf8'), 'replaced');
    assertContained(s);
  });
}

test('lower layers: implicit parents take their metadata, hard links to lower files become copies', async (t) => {
  const s = sandbox(t);
  const lower = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lower-'));
  t.after(() => fs.rmSync(lower, { recursive: true, force: true }));
  fs.mkdirSync(path.join(lower, 'tmp'), { recursive: true });
  fs.chmodSync(path.join(lower, 'tmp'), 0o1777);
  fs.mkdirSync(path.join(lower, 'bin'));
  fs.writeFileSync(path.join(lower, 'bin/tool'), 'lower tool');
  fs.chmodSync(path.join(lower, 'bin/tool'), 0o751);
  await apply(s, [
    { type: 'file', name: 'tmp/x', data: 'x' },
    { type: 'link', name: 'bin/tool2', target: 'bin/tool' },
  ], { lowerDirs: [lower] });
  assert.equal(fs.statSync(path.join(s.target, 'tmp')).mode & 0o7777, 0o1777);
  assert.equal(fs.readFileSync(path.join(s.target, 'bin/tool2'), 'utf8'), 'lower tool');
  assert.equal(fs.statSync(path.join(s.target, 'bin/tool2')).mode & 0o7777, 0o751);
  assert.equal(fs.existsSync(path.join(s.target, 'bin/tool')), false);
});

test('hostile: symlinks in a lower layer are never followed (no copy of outside files)', async (t) => {
  const s = sandbox(t);
  const lower = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lower-'));
  t.after(() => fs.rmSync(lower, { recursive: true, force: true }));
  fs.writeFileSync(path.join(s.outside, 'secret'), 'host secret');
  fs.chmodSync(s.outside, 0o711);
  fs.symlinkSync(s.outside, path.join(lower, 'evil'));
  fs.symlinkSync(path.join(s.outside, 'secret'), path.join(lower, 'direct'));
  await assert.rejects(apply(s, [{ type: 'link', name: 'l', target: 'evil/secret' }], { lowerDirs: [lower] }), /does not exist/);
  await assert.rejects(apply(s, [{ type: 'link', name: 'l2', target: 'direct' }], { lowerDirs: [lower] }), /does not exist/);
  await apply(s, [{ type: 'file', name: 'evil/x', data: 'x' }], { lowerDirs: [lower] });
  // A lower symlinked parent is followed like an in-tree one: inside the root, never outside.
  const inRoot = path.join(s.target, s.outside);
  assert.equal(fs.readFileSync(path.join(inRoot, 'x'), 'utf8'), 'x');
  assert.equal(fs.existsSync(path.join(s.target, 'evil')), false);
  assert.notEqual(fs.statSync(inRoot).mode & 0o7777, 0o711, 'metadata not taken through the symlink');
  assert.equal(fs.existsSync(path.join(s.target, 'l')), false);
  fs.rmSync(path.join(s.outside, 'secret'));
  fs.chmodSync(s.outside, 0o755);
  assertContained(s);
});

test('directories without a header keep their times (existing ones, and implicit ones from a lower layer)', async (t) => {
  const s = sandbox(t);
  const T = s.target;
  fs.mkdirSync(path.join(T, 'etc'));
  fs.writeFileSync(path.join(T, 'etc/old'), 'x');
  fs.utimesSync(path.join(T, 'etc'), 1_000_000_000, 1_000_000_000);
  fs.mkdirSync(path.join(T, 'hdr'));
  await apply(s, [
    { type: 'file', name: 'etc/new', data: 'n' },
    { type: 'whiteout', name: 'etc/old' },
    { type: 'dir', name: 'hdr', mtime: 1_200_000_000 },
    { type: 'file', name: 'hdr/f', data: 'f' },
  ]);
  assert.equal(fs.statSync(path.join(T, 'etc')).mtimeMs, 1_000_000_000_000);
  assert.equal(fs.statSync(path.join(T, 'hdr')).mtimeMs, 1_200_000_000_000);

  const s2 = sandbox(t);
  const lower = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lower-'));
  t.after(() => fs.rmSync(lower, { recursive: true, force: true }));
  fs.mkdirSync(path.join(lower, 'usr/lib'), { recursive: true });
  fs.chmodSync(path.join(lower, 'usr/lib'), 0o750);
  fs.utimesSync(path.join(lower, 'usr/lib'), 1_100_000_000, 1_100_000_000);
  await apply(s2, [{ type: 'file', name: 'usr/lib/x', data: 'x' }], { lowerDirs: [lower] });
  const st = fs.statSync(path.join(s2.target, 'usr/lib'));
  assert.equal(st.mtimeMs, 1_100_000_000_000);
  assert.equal(st.mode & 0o7777, 0o750);
});

test('sparse files in PAX 0.1 form (GNU.sparse.map) are expanded with holes', async (t) => {
  const s = sandbox(t);
  const data = Buffer.from('abcdxyz');
  const body = Buffer.concat([data, Buffer.alloc(512 - data.length)]);
  const tarBuf = Buffer.concat([
    paxBlock([
      ['GNU.sparse.map', '0,4,100,3'],
      ['GNU.sparse.size', '200'],
      ['GNU.sparse.name', 'opt/sp01'],
    ]),
    rawHeader({ name: 'opt/GNUSparseFile.1/sp01', size: data.length }),
    body,
    Buffer.alloc(1024),
  ]);
  await applyLayer(streamOf(tarBuf), s.target, { ownership: false });
  const got = fs.readFileSync(path.join(s.target, 'opt/sp01'));
  const want = Buffer.alloc(200);
  want.write('abcd', 0);
  want.write('xyz', 100);
  assert.ok(got.equals(want));
  assert.equal(fs.existsSync(path.join(s.target, 'opt/GNUSparseFile.1')), false);
  // A map pointing past the real size is refused.
  const bad = Buffer.concat([
    paxBlock([['GNU.sparse.map', '0,4,300,3'], ['GNU.sparse.size', '200'], ['GNU.sparse.name', 'bad']]),
    rawHeader({ name: 'GNUSparseFile.1/bad', size: data.length }),
    body,
    Buffer.alloc(1024),
  ]);
  await assert.rejects(applyLayer(streamOf(bad), s.target, { ownership: false }), /sparse segment outside/);
  assertContained(s);
});

test('an xattr the filesystem refuses is a warning, not a failure', { skip: !haveSetfattr && 'setfattr missing' }, async (t) => {
  const s = sandbox(t);
  const { r } = await apply(s, [{ type: 'file', name: 'f', data: 'x', xattrs: { 'bogusnamespace.k': 'v', 'user.ok': 'y' } }]);
  assert.equal(fs.readFileSync(path.join(s.target, 'f'), 'utf8'), 'x');
  assert.match(r.warnings.join('\n'), /xattr bogusnamespace.k on .* not set/);
});

test('digest: false skips hashing (for sources that verify the diff ID themselves)', async (t) => {
  const s = sandbox(t);
  const { r } = await apply(s, [{ type: 'file', name: 'f', data: 'x' }], { digest: false });
  assert.equal(r.diffId, '');
  assert.equal(fs.readFileSync(path.join(s.target, 'f'), 'utf8'), 'x');
});
