/**
 * Pull robustness against a real docker-registry: kill -9 in the middle of a pull leaves a consistent
 * store and the next pull resumes and completes; concurrent pulls of one image (in one process and
 * in two processes) download each blob once.
 *
 * This file doubles as the child program: with BERTH_PULL_CHILD set it pulls and exits.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ContentStore, ImageStore, garbageCollect, lockHeld } from '../../src/image/content';
import { RegistryClient, pushImage } from '../../src/image/registry';
import { parseReference } from '../../src/image/ref';
import { pullImage } from '../../src/image/pull';
import { haveDockerRegistry, startProxy, startRegistry, type Proxy, type RegistryServer } from '../helpers/registry';
import { buildImage, busyboxEntries, generatedEntries, storeBlobs, type TestImage } from '../helpers/registry-images';

interface ChildJob {
  root: string;
  ref: string;
}

async function childMain(job: ChildJob): Promise<void> {
  const root = job.root;
  const rec = await pullImage(job.ref, {
    store: new ContentStore(root),
    images: new ImageStore(root),
    client: new RegistryClient({ backoffMs: 20 }),
    onProgress: (p) => {
      if (p.kind === 'layer' && p.state === 'waiting') process.stdout.write(`waiting ${p.id}\n`);
    },
  });
  process.stdout.write(`DONE ${rec.target.digest}\n`);
}

if (process.env.BERTH_PULL_CHILD) {
  childMain(JSON.parse(process.env.BERTH_PULL_CHILD) as ChildJob).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`child pull failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
} else {
  defineTests();
}

function spawnChild(job: ChildJob): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [__filename], { env: { ...process.env, BERTH_PULL_CHILD: JSON.stringify(job) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

function ingestBytes(root: string): number {
  let n = 0;
  const dir = path.join(root, 'ingest');
  if (!fs.existsSync(dir)) return 0;
  for (const d of fs.readdirSync(dir)) {
    try {
      n += fs.statSync(path.join(dir, d, 'data')).size;
    } catch {
      /* not yet */
    }
  }
  return n;
}

/**
 * Ingests holding part of their blob (some bytes on disk, fewer than the blob's size): the ones a
 * resumed pull continues with Range. Ingest writes are batched, so a small blob can sit whole but
 * uncommitted in ingest/, which a resume commits without any request.
 */
function partialIngests(root: string): number {
  const dir = path.join(root, 'ingest');
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const d of fs.readdirSync(dir)) {
    try {
      const size = fs.statSync(path.join(dir, d, 'data')).size;
      const meta = JSON.parse(fs.readFileSync(path.join(dir, d, 'meta.json'), 'utf8')) as { size: number };
      if (size > 0 && size < meta.size) n++;
    } catch {
      /* not yet */
    }
  }
  return n;
}

/** Every committed blob hashes to its name; nothing else is in blobs/. */
function assertStoreConsistent(root: string): void {
  const dir = path.join(root, 'blobs', 'sha256');
  for (const n of fs.readdirSync(dir)) {
    assert.match(n, /^[a-f0-9]{64}$/, `stray file ${n} in blobs/`);
    const h = createHash('sha256').update(fs.readFileSync(path.join(dir, n))).digest('hex');
    assert.equal(h, n, `blob ${n} does not match its name`);
  }
}

function defineTests(): void {
  const skip = !haveDockerRegistry() ? 'docker-registry is not installed' : false;
  let work: string;
  let reg: RegistryServer;
  let image: TestImage;
  let ref: string;
  const children: ChildProcess[] = [];

  before(async () => {
    if (skip) return;
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pulltest-'));
    reg = await startRegistry();
    image = await buildImage({
      format: 'oci',
      layers: [
        { entries: busyboxEntries(), compression: 'gzip' },
        { entries: generatedEntries('x', 3_000_000), compression: 'gzip' },
        { entries: generatedEntries('y', 3_000_000, 1_000_000), compression: 'zstd' },
        { entries: generatedEntries('z', 2_000_000), compression: 'none' },
      ],
    });
    const root = fs.mkdtempSync(path.join(work, 'src-'));
    const store = new ContentStore(root);
    await storeBlobs(store, image.blobs);
    ref = `${reg.host}/berth/big:1`;
    await pushImage(new RegistryClient(), store, image.manifestDesc, parseReference(ref));
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (skip) return;
    await reg?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const blobGets = (proxy: Proxy, digest: string): number => proxy.count('GET', new RegExp(`/blobs/${digest}`));

  test('kill -9 in the middle of a pull: consistent store, the next pull resumes and completes', { skip }, async () => {
    const proxy = await startProxy(reg.host, [{ match: (m, u) => m === 'GET' && u.includes('/blobs/'), action: { throttle: 1_500_000 } }]);
    try {
      const root = fs.mkdtempSync(path.join(work, 'kill-'));
      const pref = ref.replace(reg.host, proxy.host);
      const c = spawnChild({ root, ref: pref });
      children.push(c.child);
      const t0 = Date.now();
      while (ingestBytes(root) < 1_000_000 || partialIngests(root) === 0) {
        if (c.child.exitCode !== null) assert.fail(`child exited early: ${c.output()}`);
        if (Date.now() - t0 > 20_000) assert.fail('no download progress');
        await new Promise((r) => setTimeout(r, 20));
      }
      c.child.kill('SIGKILL');
      await c.exited;
      const partial = ingestBytes(root);
      assert.ok(partial >= 1_000_000);

      // consistent: committed blobs are whole, no image record, locks and leases of the dead are stale
      assertStoreConsistent(root);
      const images = new ImageStore(root);
      assert.deepEqual(await images.list(), []);
      for (const l of fs.readdirSync(path.join(root, 'locks'))) assert.equal(lockHeld(path.join(root, 'locks', l)), false, l);
      const store = new ContentStore(root);
      // an ingest killed before its first metadata write has no time and may go; recorded ones stay
      const recorded = (await store.listIngests()).filter((i) => i.updatedAt).map((i) => i.digest);
      assert.ok(recorded.length > 0, 'a partial ingest with metadata exists');
      const gc = await garbageCollect(store, images);
      for (const d of recorded) assert.ok(!gc.ingestsRemoved.includes(d), `recent partial ingest ${d} is kept for resuming`);
      assert.deepEqual(fs.readdirSync(path.join(root, 'leases')), [], 'the dead lease is dropped');

      // the next pull resumes from the bytes on disk
      proxy.rules.length = 0;
      const n = proxy.requests.length;
      const rec = await pullImage(pref, { store, images, client: new RegistryClient() });
      assert.equal(rec.target.digest, image.manifestDesc.digest);
      const ranged = proxy.requests.slice(n).filter((r) => r.range !== undefined);
      assert.ok(ranged.length >= 1, 'some layer resumed with Range');
      const fetched = proxy.requests.slice(n).filter((r) => r.method === 'GET' && r.url.includes('/blobs/')).length;
      assert.ok(fetched <= image.layers.length + 1);
      for (const [d, b] of image.blobs) assert.ok((await store.readBlob(d, 1 << 30)).equals(b), d);
      assertStoreConsistent(root);
      assert.deepEqual(fs.readdirSync(path.join(root, 'ingest')), []);
      assert.deepEqual(fs.readdirSync(path.join(root, 'locks')).filter((l) => lockHeld(path.join(root, 'locks', l))), []);
    } finally {
      await proxy.close();
    }
  });

  test('two concurrent pulls in one process download each blob once', { skip }, async () => {
    const proxy = await startProxy(reg.host, [{ match: (m, u) => m === 'GET' && u.includes('/blobs/'), action: { throttle: 8_000_000 } }]);
    try {
      const root = fs.mkdtempSync(path.join(work, 'conc-'));
      const pref = ref.replace(reg.host, proxy.host);
      const mk = () => ({ store: new ContentStore(root), images: new ImageStore(root), client: new RegistryClient() });
      const [a, b] = await Promise.all([pullImage(pref, mk()), pullImage(pref, { ...mk(), recordName: 'second' })]);
      assert.equal(a.target.digest, b.target.digest);
      for (const l of image.layers) assert.equal(blobGets(proxy, l.desc.digest), 1, l.desc.digest);
      assert.equal(blobGets(proxy, image.configDesc.digest), 1);
      assertStoreConsistent(root);
      assert.equal((await new ImageStore(root).list()).length, 2);
    } finally {
      await proxy.close();
    }
  });

  test('two concurrent pulls in two processes download each blob once', { skip }, async () => {
    const proxy = await startProxy(reg.host, [{ match: (m, u) => m === 'GET' && u.includes('/blobs/'), action: { throttle: 8_000_000 } }]);
    try {
      const root = fs.mkdtempSync(path.join(work, 'procs-'));
      const pref = ref.replace(reg.host, proxy.host);
      const c1 = spawnChild({ root, ref: pref });
      const c2 = spawnChild({ root, ref: pref });
      children.push(c1.child, c2.child);
      const [e1, e2] = await Promise.all([c1.exited, c2.exited]);
      assert.equal(e1, 0, c1.output());
      assert.equal(e2, 0, c2.output());
      assert.match(c1.output(), /DONE sha256:/);
      assert.match(c1.output() + c2.output(), /waiting sha256:/, 'one pull waited for the other');
      for (const l of image.layers) assert.equal(blobGets(proxy, l.desc.digest), 1, l.desc.digest);
      assertStoreConsistent(root);
    } finally {
      await proxy.close();
    }
  });
}
