/**
 * Pull fixes: no MaxListenersExceededWarning on a many-layer pull with unpacking, a connection reset
 * mid-body is retried and resumed with Range, and the fault proxy keeps answering after a client
 * leaves a throttled download.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentStore, ImageStore } from '../../src/image/content';
import { RegistryClient, pushImage } from '../../src/image/registry';
import { parseReference } from '../../src/image/ref';
import { pullImage } from '../../src/image/pull';
import { Snapshotter, pullUnpacker } from '../../src/image/snapshot';
import { haveDockerRegistry, startProxy, startRegistry, type RegistryServer } from '../helpers/registry';
import { buildImage, busyboxEntries, generatedEntries, storeBlobs, type TestImage } from '../helpers/registry-images';

const skip = !haveDockerRegistry() ? 'docker-registry is not installed' : false;
let work: string;
let reg: RegistryServer;
let many: TestImage;
let big: TestImage;

before(async () => {
  if (skip) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pullfaults-'));
  reg = await startRegistry();
  many = await buildImage({
    format: 'oci',
    layers: [
      { entries: busyboxEntries(), compression: 'gzip' },
      ...Array.from({ length: 13 }, (_, i) => ({ entries: generatedEntries(`l${i}`, 300_000, 3_000_000), compression: 'gzip' as const })),
    ],
  });
  big = await buildImage({ format: 'oci', layers: [{ entries: generatedEntries('big', 4_000_000), compression: 'none' }] });
  const root = fs.mkdtempSync(path.join(work, 'src-'));
  const store = new ContentStore(root);
  await storeBlobs(store, many.blobs);
  await storeBlobs(store, big.blobs);
  await pushImage(new RegistryClient(), store, many.manifestDesc, parseReference(`${reg.host}/berth/many:1`));
  await pushImage(new RegistryClient(), store, big.manifestDesc, parseReference(`${reg.host}/berth/big:1`));
});

after(async () => {
  if (skip) return;
  await reg?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('a 14-layer pull with unpacking emits no MaxListenersExceededWarning', { skip }, async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(`${w.name}: ${w.message}`);
  };
  process.on('warning', onWarning);
  try {
    const root = fs.mkdtempSync(path.join(work, 'many-'));
    const snaps = await Snapshotter.open({ root: path.join(root, 'snaps') });
    const rec = await pullImage(`${reg.host}/berth/many:1`, {
      store: new ContentStore(path.join(root, 'content')),
      images: new ImageStore(path.join(root, 'content')),
      client: new RegistryClient({ maxConcurrentDownloads: 14 }),
      ...pullUnpacker(snaps),
    });
    assert.equal(rec.layers.length, 14);
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(warnings.filter((w) => /MaxListeners/.test(w)), []);
});

test('a connection reset mid-body is retried and resumed with Range', { skip }, async () => {
  const layer = big.layers[0]!.desc;
  const proxy = await startProxy(reg.host, [
    { match: (m, u) => m === 'GET' && u.includes(layer.digest), times: 1, action: { resetAfter: 1_000_000 } },
  ]);
  try {
    const client = new RegistryClient({ backoffMs: 10 });
    const root = fs.mkdtempSync(path.join(work, 'reset-'));
    const store = new ContentStore(root);
    const rec = await pullImage(`${proxy.host}/berth/big:1`, { store, images: new ImageStore(root), client });
    assert.equal(rec.target.digest, big.manifestDesc.digest);
    assert.ok(await store.has(layer.digest));
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.url.includes(layer.digest));
    assert.equal(gets.length, 2, JSON.stringify(gets));
    assert.match(gets[1]!.range ?? '', /^bytes=[1-9]\d*-$/, 'the retry resumes with Range');
    assert.ok(client.stats.resumes >= 1, JSON.stringify(client.stats));
  } finally {
    await proxy.close();
  }
});

test('a connection reset mid-body of one layer of a many-layer pull with unpacking is retried', { skip }, async () => {
  const layer = many.layers[5]!.desc;
  const proxy = await startProxy(reg.host, [
    { match: (m, u) => m === 'GET' && u.includes(layer.digest), times: 1, action: { resetAfter: Math.floor(layer.size / 2) } },
    { match: (m, u) => m === 'GET' && u.includes('/blobs/'), action: { throttle: 4_000_000 } },
  ]);
  try {
    const client = new RegistryClient({ backoffMs: 10 });
    const root = fs.mkdtempSync(path.join(work, 'reset2-'));
    const snaps = await Snapshotter.open({ root: path.join(root, 'snaps') });
    const rec = await pullImage(`${proxy.host}/berth/many:1`, { store: new ContentStore(root), images: new ImageStore(root), client, ...pullUnpacker(snaps) });
    assert.equal(rec.target.digest, many.manifestDesc.digest);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.url.includes(layer.digest));
    assert.equal(gets.length, 2, JSON.stringify(gets));
    assert.match(gets[1]!.range ?? '', /^bytes=[1-9]\d*-$/, 'the retry resumes with Range');
  } finally {
    await proxy.close();
  }
});

test('time spent in a slow sink is not a stalled download (no re-download)', { skip }, async () => {
  const layer = big.layers[0]!.desc;
  const client = new RegistryClient({ backoffMs: 10, noProgressTimeoutMs: 300 });
  const chunks: Buffer[] = [];
  let offset = 0;
  let slowOnce = true;
  await client.fetchBlob({ domain: reg.host, path: 'berth/big' }, layer, {
    get offset() {
      return offset;
    },
    async write(c: Buffer) {
      if (slowOnce && offset > 0) {
        slowOnce = false;
        await new Promise((r) => setTimeout(r, 900)); // an unpacker waiting for its parent layer
      }
      chunks.push(c);
      offset += c.length;
    },
  });
  assert.equal(offset, layer.size);
  assert.equal(client.stats.retries, 0, JSON.stringify(client.stats));
});

test('the proxy keeps answering after a client leaves a throttled download', { skip }, async () => {
  const layer = big.layers[0]!.desc;
  const proxy = await startProxy(reg.host, [{ match: (m, u) => m === 'GET' && u.includes('/blobs/'), action: { throttle: 200_000 } }]);
  const get = (p: string, keep: (res: http.IncomingMessage, req: http.ClientRequest) => void): void => {
    const req = http.get({ host: '127.0.0.1', port: Number(proxy.host.split(':')[1]), path: p, agent: false }, (res) => keep(res, req));
    req.on('error', () => undefined);
  };
  try {
    for (let round = 0; round < 3; round++) {
      await new Promise<void>((resolve) => {
        get(`/v2/berth/big/blobs/${layer.digest}`, (res, req) => {
          res.on('error', () => undefined);
          res.once('data', () => {
            req.destroy(); // the client leaves mid-download, while the proxy is pausing
            resolve();
          });
        });
      });
      await new Promise((r) => setTimeout(r, 300));
      const status = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the proxy stopped answering')), 5000);
        get('/v2/', (res) => {
          clearTimeout(timer);
          res.resume();
          resolve(res.statusCode ?? 0);
        });
      });
      assert.equal(status, 200);
    }
  } finally {
    await proxy.close();
  }
});
