import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  ContentStore,
  DigestMismatchError,
  ImageStore,
  acquireLock,
  createLease,
  garbageCollect,
  lockHeld,
  sha256Digest,
  tryAcquire,
} from '../../src/image/content';
import { MediaType, type Descriptor } from '../../src/image/manifest/types';

function tmp(t: { after: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-content-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('putBlob: content addressed, verified, read back, shared', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = Buffer.from('hello world');
  const ref = await store.putBlob(data);
  assert.equal(ref.digest, sha256Digest(data));
  assert.equal(fs.readFileSync(store.blobPath(ref.digest), 'utf8'), 'hello world');
  assert.deepEqual(await store.readBlob(ref.digest), data);
  assert.equal(await store.stat(ref.digest), 11);
  await store.putBlob(data, ref); // idempotent
  assert.deepEqual(await store.listBlobs(), [ref.digest]);
  await assert.rejects(store.putBlob(data, { digest: sha256Digest('other') }), DigestMismatchError);
  await assert.rejects(store.putBlob(data, { size: 3 }), /size mismatch/);
  await assert.rejects(store.readBlob(sha256Digest('missing')), /not found/);
  // a corrupted blob on disk is detected on read
  fs.chmodSync(store.blobPath(ref.digest), 0o644);
  fs.writeFileSync(store.blobPath(ref.digest), 'hello w0rld');
  await assert.rejects(store.readBlob(ref.digest), /corrupt/);
});

test('ingest: nothing visible before commit; digest and size mismatches are rejected and discarded', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(100_000);
  const digest = sha256Digest(data);
  const ing = (await store.openIngest({ digest, size: data.length }))!;
  await ing.write(data.subarray(0, 50_000));
  assert.equal(await store.has(digest), false);
  await assert.rejects(ing.commit(), /got 50000 bytes/);
  await ing.write(data.subarray(50_000));
  await assert.rejects(ing.write(Buffer.from('x')), /larger than/);
  await ing.commit();
  await ing.close();
  assert.equal(await store.has(digest), true);
  assert.equal(fs.existsSync(store.ingestDir(digest)), false);
  assert.equal(lockHeld(store.lockPath(digest)), false);
  // wrong content for a digest
  const other = randomBytes(10);
  const wrong = sha256Digest('expected');
  const ing2 = (await store.openIngest({ digest: wrong, size: 10 }))!;
  await ing2.write(other);
  await assert.rejects(ing2.commit(), (e: unknown) => e instanceof DigestMismatchError && /digest mismatch/.test(e.message));
  await ing2.close(true);
  assert.equal(await store.has(wrong), false);
  assert.equal(fs.existsSync(store.ingestDir(wrong)), false);
});

test('ingest resumes from bytes on disk after re-hashing them', async (t) => {
  const root = tmp(t);
  const store = new ContentStore(root);
  const data = randomBytes(3_000_000);
  const digest = sha256Digest(data);
  const a = (await store.openIngest({ digest, size: data.length }))!;
  await a.write(data.subarray(0, 1_234_567));
  await a.close(); // keeps the partial data
  const store2 = new ContentStore(root); // "a new process"
  const b = (await store2.openIngest({ digest, size: data.length }))!;
  assert.equal(await b.existingBytes(), 1_234_567);
  const seen: Buffer[] = [];
  const off = await b.resume((c) => {
    seen.push(c);
  });
  assert.equal(off, 1_234_567);
  assert.deepEqual(Buffer.concat(seen), data.subarray(0, off));
  await b.write(data.subarray(off));
  await b.commit();
  await b.close();
  assert.deepEqual(await store2.readBlob(digest), data);
});

test('resume: a sidecar for another blob or oversize data starts over', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(1000);
  const digest = sha256Digest(data);
  const dir = store.ingestDir(digest);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'data'), randomBytes(500));
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ digest, size: 999 }));
  const ing = (await store.openIngest({ digest, size: 1000 }))!;
  assert.equal(await ing.resume(), 0);
  await ing.close();
  fs.writeFileSync(path.join(dir, 'data'), randomBytes(2000));
  const ing2 = (await store.openIngest({ digest, size: 1000 }))!;
  assert.equal(await ing2.resume(), 0);
  await ing2.write(data);
  await ing2.commit();
  await ing2.close();
  assert.equal(await store.has(digest), true);
});

test('a second ingest of the same digest waits for the first and then finds the blob', async (t) => {
  const store = new ContentStore(tmp(t));
  const data = randomBytes(1000);
  const digest = sha256Digest(data);
  const first = (await store.openIngest({ digest, size: data.length }))!;
  let waited = false;
  const second = store.openIngest({ digest, size: data.length }, { pollMs: 10, onWait: () => (waited = true) });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(waited, true);
  await first.write(data);
  await first.commit();
  await first.close();
  assert.equal(await second, undefined);
});

test('locks: held by a live process, broken when its owner died (kill -9)', async (t) => {
  const root = tmp(t);
  const lockPath = path.join(root, 'x.lock');
  const modPath = path.resolve(__dirname, '../../src/image/content/lock.js');
  const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(modPath)}).tryAcquire(${JSON.stringify(lockPath)}); console.log('locked'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  assert.equal(lockHeld(lockPath), true);
  assert.equal(tryAcquire(lockPath), undefined);
  await assert.rejects(acquireLock(lockPath, { pollMs: 10, timeoutMs: 100 }), /timed out/);
  const waiting = acquireLock(lockPath, { pollMs: 10 });
  child.kill('SIGKILL');
  const l = await waiting;
  assert.equal(fs.readFileSync(lockPath, 'utf8'), `${process.pid} ${fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]}\n`);
  await l.release();
  assert.equal(fs.existsSync(lockPath), false);
  // garbage content in a fresh lock file is respected until it is old
  fs.writeFileSync(lockPath, 'garbage');
  assert.equal(tryAcquire(lockPath), undefined);
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(lockPath, old, old);
  const l2 = tryAcquire(lockPath);
  assert.ok(l2);
  await l2.release();
});

function manifestFor(config: Descriptor, layers: Descriptor[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers }));
}

test('garbage collection frees blobs nothing references; shared blobs stay; leases protect', async (t) => {
  const root = tmp(t);
  const store = new ContentStore(root);
  const images = new ImageStore(root);
  const put = async (b: Buffer, mediaType: string): Promise<Descriptor> => ({ mediaType, ...(await store.putBlob(b)) });
  const shared = await put(Buffer.from('shared layer'), MediaType.OciLayerGzip);
  const onlyA = await put(Buffer.from('layer a'), MediaType.OciLayerGzip);
  const onlyB = await put(Buffer.from('layer b'), MediaType.OciLayerGzip);
  const cfgA = await put(Buffer.from('{"a":1}'), MediaType.OciConfig);
  const cfgB = await put(Buffer.from('{"b":1}'), MediaType.OciConfig);
  const mA = await put(manifestFor(cfgA, [shared, onlyA]), MediaType.OciManifest);
  const mB = await put(manifestFor(cfgB, [shared, onlyB]), MediaType.OciManifest);
  const idx = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...mB, platform: { os: 'linux', architecture: 'amd64' } }] })), MediaType.OciIndex);
  const orphan = await put(Buffer.from('orphan'), 'application/octet-stream');
  const rec = (name: string, target: Descriptor, manifest: Descriptor, config: Descriptor, layers: Descriptor[]) =>
    images.put({ name, target, manifest, config, layers, diffIds: [], platform: { os: 'linux', architecture: 'amd64' } });
  await rec('example.com/a:1', mA, mA, cfgA, [shared, onlyA]);
  await rec('example.com/b:1', idx, mB, cfgB, [shared, onlyB]);
  assert.equal((await images.list()).length, 2);

  let r = await garbageCollect(store, images);
  assert.deepEqual(r.removed, [orphan.digest]);
  assert.equal(r.bytesFreed, 6);

  // removing A frees A's manifest, config and own layer, not the shared layer
  assert.equal(await images.delete('example.com/a:1'), true);
  assert.equal(await images.delete('example.com/a:1'), false);
  r = await garbageCollect(store, images, { dryRun: true });
  assert.deepEqual(new Set(r.removed), new Set([mA.digest, cfgA.digest, onlyA.digest]));
  assert.equal(await store.has(mA.digest), true);
  // a live lease protects a blob
  const lease = await createLease(root, [onlyA.digest]);
  r = await garbageCollect(store, images);
  assert.deepEqual(new Set(r.removed), new Set([mA.digest, cfgA.digest]));
  assert.equal(await store.has(onlyA.digest), true);
  assert.equal(await store.has(shared.digest), true);
  await lease.release();
  r = await garbageCollect(store, images);
  assert.deepEqual(r.removed, [onlyA.digest]);
  // removing B (an index) frees everything
  await images.delete('example.com/b:1');
  r = await garbageCollect(store, images);
  assert.deepEqual(new Set(r.removed), new Set([idx.digest, mB.digest, cfgB.digest, shared.digest, onlyB.digest]));
  assert.deepEqual(await store.listBlobs(), []);
});

test('gc: leases of dead processes are dropped; inactive old ingests removed, active ones kept', async (t) => {
  const root = tmp(t);
  const store = new ContentStore(root);
  const images = new ImageStore(root);
  const b = await store.putBlob(Buffer.from('x'));
  fs.writeFileSync(path.join(root, 'leases', 'dead.json'), JSON.stringify({ owner: { pid: 999999999, startTime: '1' }, createdAt: '', digests: [b.digest] }));
  const data = randomBytes(100);
  const digest = sha256Digest(data);
  const ing = (await store.openIngest({ digest, size: 100 }))!;
  await ing.write(data.subarray(0, 10));
  const r1 = await garbageCollect(store, images, { ingestMaxAgeMs: 0 });
  assert.deepEqual(r1.removed, [b.digest]);
  assert.deepEqual(r1.ingestsRemoved, []);
  assert.equal(fs.existsSync(path.join(root, 'leases', 'dead.json')), false);
  await ing.close();
  const r2 = await garbageCollect(store, images, { ingestMaxAgeMs: 0 });
  assert.deepEqual(r2.ingestsRemoved, [digest]);
  assert.equal(fs.existsSync(store.ingestDir(digest)), false);
});

test('image store: put keeps createdAt for the same target, list sorted, get by name', async (t) => {
  const root = tmp(t);
  const images = new ImageStore(root);
  const target: Descriptor = { mediaType: MediaType.OciManifest, digest: sha256Digest('m'), size: 1 };
  const base = { target, manifest: target, config: target, layers: [], diffIds: [], platform: { os: 'linux', architecture: 'amd64' } };
  const a = await images.put({ name: 'z.io/b:1', ...base });
  await new Promise((r) => setTimeout(r, 5));
  const a2 = await images.put({ name: 'z.io/b:1', ...base });
  assert.equal(a2.createdAt, a.createdAt);
  assert.notEqual(a2.updatedAt, a.updatedAt);
  await images.put({ name: 'a.io/a:1', ...base });
  assert.deepEqual((await images.list()).map((r) => r.name), ['a.io/a:1', 'z.io/b:1']);
  assert.equal((await images.get('z.io/b:1'))?.name, 'z.io/b:1');
  assert.equal(await images.get('nope'), undefined);
  await assert.rejects(images.require('nope'), /not found/);
  // no temp files left behind
  assert.ok(fs.readdirSync(path.join(root, 'images')).every((n) => n.endsWith('.json') && !n.startsWith('.')));
});
