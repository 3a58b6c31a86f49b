import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VolumeStore, dirSize, isVolumeName, resolveVolume, validateVolumeName } from '../../src/engine/volumes';
import type { ContainerRecord } from '../../src/engine/types';

function tmp(t: { after: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vol-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function rec(name: string, volumes: { name: string; anonymous: boolean }[]): ContainerRecord {
  return { name, id: 'a'.repeat(64), volumes } as unknown as ContainerRecord;
}

test('volume names: docker rule; paths are not names', () => {
  validateVolumeName('data');
  validateVolumeName('my_vol.1-x');
  assert.throws(() => validateVolumeName('a'), /invalid volume name/);
  assert.throws(() => validateVolumeName('-x'), /invalid volume name/);
  assert.throws(() => validateVolumeName('a/b'), /invalid volume name/);
  assert.equal(isVolumeName('data'), true);
  assert.equal(isVolumeName('/srv/data'), false);
  assert.equal(isVolumeName('./data'), false);
});

test('create, get, list, idempotent create, remove', async (t) => {
  const s = new VolumeStore(path.join(tmp(t), 'volumes'));
  const a = await s.create('data', { labels: { team: 'x' } });
  assert.equal(a.created, true);
  assert.equal(a.volume.mountpoint, path.join(s.dir, 'data', '_data'));
  assert.ok(fs.statSync(a.volume.mountpoint).isDirectory());
  assert.equal(a.volume.anonymous, false);
  fs.writeFileSync(path.join(a.volume.mountpoint, 'f'), 'x');
  const again = await s.create('data');
  assert.equal(again.created, false);
  assert.ok(fs.existsSync(path.join(a.volume.mountpoint, 'f')), 'content kept');
  const anon = await s.create();
  assert.match(anon.volume.name, /^[0-9a-f]{64}$/);
  assert.equal(anon.volume.anonymous, true);
  assert.deepEqual(s.list().map((v) => v.name).sort(), ['data', anon.volume.name].sort());
  assert.deepEqual(s.inspect('data').labels, { team: 'x' });
  await s.remove('data', { records: [] });
  assert.equal(s.get('data'), null);
  assert.ok(!fs.existsSync(path.join(s.dir, 'data')));
  await assert.rejects(s.remove('data', { records: [] }), /no such volume: data/);
  await assert.rejects(s.create('data', { options: { type: 'nfs' } }), /not supported/);
});

test('rm refuses a volume in use; prune removes unused anonymous ones (all: named too)', async (t) => {
  const s = new VolumeStore(path.join(tmp(t), 'volumes'));
  await s.create('used');
  await s.create('free');
  const anon = (await s.create()).volume.name;
  const records = [rec('web', [{ name: 'used', anonymous: false }])];
  await assert.rejects(s.remove('used', { records }), /in use by container\(s\) web/);
  const p1 = await s.prune({ records });
  assert.deepEqual(p1.removed, [anon]);
  const p2 = await s.prune({ records, all: true });
  assert.deepEqual(p2.removed, ['free']);
  assert.deepEqual(s.list().map((v) => v.name), ['used']);
});

test('populate copies the image content once, resolving symlinks inside the root', async (t) => {
  const d = tmp(t);
  const root = path.join(d, 'rootfs');
  fs.mkdirSync(path.join(root, 'srv', 'www', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'srv', 'www', 'index.html'), 'hello');
  fs.writeFileSync(path.join(root, 'srv', 'www', 'sub', 'a'), 'a');
  fs.symlinkSync('/srv/www', path.join(root, 'web')); // absolute: must stay inside root
  fs.chmodSync(path.join(root, 'srv', 'www'), 0o750);
  const s = new VolumeStore(path.join(d, 'volumes'));
  const r = await resolveVolume(s, 'site');
  assert.equal(r.created, true);
  assert.equal(await s.populate('site', root, '/web'), true);
  assert.equal(fs.readFileSync(path.join(r.hostPath, 'index.html'), 'utf8'), 'hello');
  assert.equal(fs.readFileSync(path.join(r.hostPath, 'sub', 'a'), 'utf8'), 'a');
  assert.equal(fs.statSync(r.hostPath).mode & 0o777, 0o750);
  fs.rmSync(path.join(r.hostPath, 'index.html'));
  assert.equal(await s.populate('site', root, '/web'), false, 'only on first use');
  assert.ok(!fs.existsSync(path.join(r.hostPath, 'index.html')));
  // a symlink pointing outside the root does not copy the host's files
  fs.symlinkSync('../../../../../../etc', path.join(root, 'escape'));
  await s.create('esc');
  await s.populate('esc', root, '/escape');
  assert.ok(!fs.existsSync(path.join(s.mountpoint('esc'), 'passwd')), 'host /etc not copied');
  assert.ok((await dirSize(r.hostPath)) > 0);
  await assert.rejects(resolveVolume(s, '/host/path'), /is a path/);
  const anon = await resolveVolume(s, '');
  assert.equal(anon.anonymous, true);
});
