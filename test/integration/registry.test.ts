/**
 * The registry client, push and pull against Debian's docker-registry started by the tests on
 * 127.0.0.1: plain HTTP, htpasswd basic auth, and token auth behind an in-process token server;
 * images pushed with berth's own code and with skopeo; faults injected through a loopback proxy.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BerthError } from '../../src/runtime/errors';
import { ContentStore, ImageStore, garbageCollect } from '../../src/image/content';
import { parseReference } from '../../src/image/ref';
import { MediaType } from '../../src/image/manifest';
import { DockerConfig, RegistryClient, credentialChain, credentialsFromAuthConfig, pushImage, type RegistryClientOptions } from '../../src/image/registry';
import { pullImage, type PullOptions, type PullProgress } from '../../src/image/pull';
import { haveDockerRegistry, haveHtpasswd, makeCertPair, startProxy, startRegistry, startTokenServer, type RegistryServer } from '../helpers/registry';
import {
  buildImage,
  buildIndex,
  busyboxEntries,
  generatedEntries,
  sha256,
  storeBlobs,
  writeOciLayout,
  type TestImage,
} from '../helpers/registry-images';

const skip = !haveDockerRegistry() ? 'docker-registry is not installed' : false;

let work: string;
let plain: RegistryServer;
let img: TestImage; // OCI: busybox (gzip) + random (zstd) + text (uncompressed)
let dimg: TestImage; // Docker schema2, gzip

before(async () => {
  if (skip) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-regtest-'));
  plain = await startRegistry();
  img = await buildImage({
    format: 'oci',
    layers: [
      { entries: busyboxEntries(), compression: 'gzip' },
      { entries: generatedEntries('a', 1_500_000), compression: 'zstd' },
      { entries: generatedEntries('b', 0, 400_000), compression: 'none' },
    ],
  });
  dimg = await buildImage({
    format: 'docker',
    layers: [
      { entries: busyboxEntries(['sh']), compression: 'gzip' },
      { entries: generatedEntries('c', 300_000, 100_000), compression: 'gzip' },
    ],
  });
});

after(async () => {
  if (skip) return;
  await plain?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

function fresh(name: string): { root: string; store: ContentStore; images: ImageStore } {
  const root = fs.mkdtempSync(path.join(work, `${name}-`));
  return { root, store: new ContentStore(root), images: new ImageStore(root) };
}

async function pushTest(reg: { host: string }, image: { blobs: Map<string, Buffer> }, top: { mediaType: string; digest: string; size: number }, ref: string, opts: RegistryClientOptions = {}, chunkSize?: number): Promise<void> {
  const { store } = fresh('push');
  await storeBlobs(store, image.blobs);
  const client = new RegistryClient(opts);
  const po: { chunkSize?: number } = {};
  if (chunkSize) po.chunkSize = chunkSize;
  await pushImage(client, store, top, parseReference(ref), po);
  void reg;
}

async function verifyPulled(store: ContentStore, image: TestImage): Promise<void> {
  for (const [d, b] of image.blobs) {
    const got = await store.readBlob(d, 1 << 30);
    assert.ok(got.equals(b), `blob ${d}`);
  }
}

function sha(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

test('push (monolithic and chunked) and pull back OCI and Docker schema2 images, with layer streams', { skip }, async () => {
  await pushTest(plain, img, img.manifestDesc, `${plain.host}/berth/oci:v1`);
  await pushTest(plain, dimg, dimg.manifestDesc, `${plain.host}/berth/docker:v1`, {}, 64 * 1024);

  for (const [ref, image] of [[`${plain.host}/berth/oci:v1`, img], [`${plain.host}/berth/docker:v1`, dimg]] as Array<[string, TestImage]>) {
    const { store, images } = fresh('pull');
    const events: PullProgress[] = [];
    const streamed = new Map<number, string>();
    const client = new RegistryClient();
    const rec = await pullImage(ref, {
      store,
      images,
      client,
      onProgress: (p) => events.push(p),
      onLayerStream: async (layer, tar) => {
        streamed.set(layer.index, sha(await collect(tar)));
      },
    });
    assert.equal(rec.name, ref);
    assert.equal(rec.target.digest, image.manifestDesc.digest);
    assert.equal(rec.target.mediaType, image.format === 'oci' ? MediaType.OciManifest : MediaType.DockerManifest);
    assert.equal(rec.config.digest, image.configDesc.digest);
    assert.deepEqual(rec.layers.map((l) => l.digest), image.layers.map((l) => l.desc.digest));
    assert.deepEqual(rec.diffIds, image.layers.map((l) => l.diffId));
    assert.deepEqual([...streamed.entries()].sort(), image.layers.map((l, i) => [i, l.diffId]));
    await verifyPulled(store, image);
    assert.deepEqual(await images.get(ref), rec);
    for (const l of image.layers) {
      const evs = events.filter((e) => e.kind === 'layer' && e.id === l.desc.digest);
      assert.equal(evs[evs.length - 1]!.state, 'done', JSON.stringify(evs));
      assert.ok(evs.some((e) => e.state === 'verifying'));
    }
    // pulling again downloads nothing but still streams and verifies from the store
    const again = new Map<number, string>();
    const n = client.stats.requests;
    await pullImage(ref, { store, images, client, onLayerStream: async (layer, tar) => void again.set(layer.index, sha(await collect(tar))) });
    assert.deepEqual([...again.entries()].sort(), [...streamed.entries()].sort());
    assert.equal(client.stats.requests - n, 1, 'only the manifest is fetched');
  }
});

test('push: blobs already present are skipped, cross-repository mounts', { skip }, async () => {
  const { store } = fresh('mount');
  await storeBlobs(store, img.blobs);
  const client = new RegistryClient();
  const seen: Record<string, string> = {};
  await pushImage(client, store, img.manifestDesc, parseReference(`${plain.host}/berth/oci:v1`), { onBlob: (d, r) => (seen[d] = r) });
  assert.ok(Object.values(seen).every((r) => r === 'exists'), JSON.stringify(seen));
  const mounted: Record<string, string> = {};
  await pushImage(client, store, img.manifestDesc, parseReference(`${plain.host}/other/copy:v1`), { mountFrom: 'berth/oci', onBlob: (d, r) => (mounted[d] = r) });
  assert.ok(Object.values(mounted).length === img.layers.length + 1 && Object.values(mounted).every((r) => r === 'mounted'), JSON.stringify(mounted));
  const rec = await pullImage(`${plain.host}/other/copy:v1`, { ...fresh('mounted'), client });
  assert.equal(rec.target.digest, img.manifestDesc.digest);
});

test('an index: platform selection for this host and for another platform', { skip }, async () => {
  const arm = await buildImage({ format: 'oci', architecture: 'arm64', layers: [{ entries: generatedEntries('arm', 1000), compression: 'gzip' }] });
  const armv7 = await buildImage({ format: 'oci', architecture: 'arm', variant: 'v7', layers: [{ entries: generatedEntries('armv7', 1000), compression: 'gzip' }] });
  const idx = buildIndex('oci', [
    { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { image: img, platform: { os: 'linux', architecture: 'amd64' } },
    { image: armv7, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
  ]);
  await pushTest(plain, { blobs: idx.blobs }, idx.desc, `${plain.host}/berth/multi:1`);
  const { store, images } = fresh('idx');
  const rec = await pullImage(`${plain.host}/berth/multi:1`, { store, images, platform: { os: 'linux', architecture: 'amd64' } });
  assert.equal(rec.target.digest, idx.desc.digest);
  assert.equal(rec.target.mediaType, MediaType.OciIndex);
  assert.equal(rec.manifest.digest, img.manifestDesc.digest);
  assert.equal(rec.platform.architecture, 'amd64');
  const rec2 = await pullImage(`${plain.host}/berth/multi:1`, { store, images, platform: { os: 'linux', architecture: 'arm64' }, recordName: 'arm' });
  assert.equal(rec2.manifest.digest, arm.manifestDesc.digest);
  assert.equal(await store.has(arm.layers[0]!.desc.digest), true);
  assert.equal(await store.has(armv7.layers[0]!.desc.digest), false, 'other platforms are not downloaded');
  await assert.rejects(
    pullImage(`${plain.host}/berth/multi:1`, { store, images, platform: { os: 'linux', architecture: 's390x' } }),
    (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND' && /linux\/s390x/.test(e.message),
  );
  // by digest
  const rec3 = await pullImage(`${plain.host}/berth/multi@${idx.desc.digest}`, { store, images, platform: { os: 'linux', architecture: 'amd64' } });
  assert.equal(rec3.name, `${plain.host}/berth/multi@${idx.desc.digest}`);
  // removing the index images keeps blobs another image still uses
  await pullImage(`${plain.host}/berth/oci:v1`, { store, images });
  await images.delete(`${plain.host}/berth/multi@${idx.desc.digest}`);
  assert.equal((await garbageCollect(store, images)).removed.length, 0, 'the index is still referenced');
  await images.delete('arm');
  await images.delete(`${plain.host}/berth/multi:1`);
  const gc = await garbageCollect(store, images);
  assert.deepEqual(new Set(gc.removed), new Set([idx.desc.digest, arm.manifestDesc.digest, arm.configDesc.digest, arm.layers[0]!.desc.digest]));
  await verifyPulled(store, img);
});

test('skopeo-pushed images (OCI and converted to Docker schema2) pull back', { skip }, async () => {
  const layout = path.join(work, 'layout');
  writeOciLayout(layout, img.manifestDesc, img.blobs, 'v1');
  execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${plain.host}/skopeo/oci:v1`], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Docker schema2 cannot carry zstd layers: convert a gzip-only image
  const gimg = await buildImage({ format: 'oci', layers: [{ entries: busyboxEntries(), compression: 'gzip' }, { entries: generatedEntries('g', 10_000), compression: 'none' }] });
  const layout2 = path.join(work, 'layout2');
  writeOciLayout(layout2, gimg.manifestDesc, gimg.blobs, 'v1');
  execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout2}:v1`, `docker://${plain.host}/skopeo/v2s2:v1`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const { store, images } = fresh('skopeo');
  const a = await pullImage(`${plain.host}/skopeo/oci:v1`, { store, images });
  assert.equal(a.target.mediaType, MediaType.OciManifest);
  const b = await pullImage(`${plain.host}/skopeo/v2s2:v1`, { store, images });
  assert.equal(b.target.mediaType, MediaType.DockerManifest);
  assert.deepEqual(b.diffIds, gimg.layers.map((l) => l.diffId));
  assert.equal(b.layers[0]!.digest, gimg.layers[0]!.desc.digest);
  assert.equal(b.layers[0]!.mediaType, MediaType.DockerLayerGzip);
  // skopeo may re-serialise the manifest; config and layers are the same blobs
  // and compresses the uncompressed layer (same diff_id)
  assert.deepEqual(a.diffIds, img.layers.map((l) => l.diffId));
  assert.deepEqual(a.layers.slice(0, 2).map((l) => l.digest), img.layers.slice(0, 2).map((l) => l.desc.digest));
  for (const d of [img.configDesc.digest, ...img.layers.slice(0, 2).map((l) => l.desc.digest)]) assert.ok((await store.readBlob(d, 1 << 30)).equals(img.blobs.get(d)!));
  // and berth-pushed images are readable by skopeo
  const out = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${plain.host}/berth/oci:v1`], { encoding: 'utf8' });
  assert.equal(sha256(out), img.manifestDesc.digest);
});

test('errors: unknown tag, unknown repository, lying diff_ids, non-image artifacts', { skip }, async () => {
  const { root, store, images } = fresh('err');
  await assert.rejects(pullImage(`${plain.host}/berth/oci:nope`, { store, images }), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND');
  await assert.rejects(pullImage(`${plain.host}/no/such:1`, { store, images }), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND');
  const liar = await buildImage({ format: 'oci', layers: [{ entries: generatedEntries('liar', 5000), compression: 'gzip' }], diffIds: [sha256('something else')] });
  await pushTest(plain, liar, liar.manifestDesc, `${plain.host}/berth/liar:1`);
  await assert.rejects(pullImage(`${plain.host}/berth/liar:1`, { store, images }), /does not match the config's diff_id/);
  assert.equal(await store.has(liar.layers[0]!.desc.digest), false, 'the lying layer is not committed');
  assert.equal(await images.get(`${plain.host}/berth/liar:1`), undefined);
  assert.deepEqual(fs.readdirSync(path.join(root, 'ingest')), []);
  assert.deepEqual(fs.readdirSync(path.join(root, 'leases')), []);
  // an artifact whose config is not an image config
  const art = Buffer.from('{}');
  const artManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: 'application/vnd.example.thing', digest: sha256(art), size: 2 }, layers: [] }));
  const blobs = new Map([[sha256(art), art], [sha256(artManifest), artManifest]]);
  await pushTest(plain, { blobs }, { mediaType: MediaType.OciManifest, digest: sha256(artManifest), size: artManifest.length }, `${plain.host}/berth/artifact:1`);
  await assert.rejects(pullImage(`${plain.host}/berth/artifact:1`, { store, images }), /not a container image/);
});

test('hosts.toml: a mirror for gcr.io with no fallback, and ordered fallback past a dead mirror', { skip }, async () => {
  const hostsDir = path.join(work, 'hosts');
  fs.mkdirSync(path.join(hostsDir, 'gcr.io'), { recursive: true });
  fs.writeFileSync(path.join(hostsDir, 'gcr.io', 'hosts.toml'), `server = "http://${plain.host}"\n[host."http://${plain.host}"]\n  capabilities = ["pull", "resolve"]\n`);
  const { store, images } = fresh('mirror');
  const rec = await pullImage('gcr.io/berth/oci:v1', { store, images, client: new RegistryClient({ hostsDir }) });
  assert.equal(rec.name, 'gcr.io/berth/oci:v1');
  assert.equal(rec.target.digest, img.manifestDesc.digest);
  // a dead mirror first, then the working one
  fs.mkdirSync(path.join(hostsDir, 'public.ecr.aws'), { recursive: true });
  fs.writeFileSync(path.join(hostsDir, 'public.ecr.aws', 'hosts.toml'), `server = "http://${plain.host}"\n[host."http://127.0.0.1:9"]\n`);
  const client = new RegistryClient({ hostsDir, retries: 0 });
  const rec2 = await pullImage('public.ecr.aws/berth/docker:v1', { store, images, client });
  assert.equal(rec2.target.digest, dimg.manifestDesc.digest);
  // only a dead host and no fallback: fails, never reaching anything else
  fs.mkdirSync(path.join(hostsDir, 'registry.k8s.io'), { recursive: true });
  fs.writeFileSync(path.join(hostsDir, 'registry.k8s.io', 'hosts.toml'), 'server = "http://127.0.0.1:9"\n');
  await assert.rejects(pullImage('registry.k8s.io/berth/oci:v1', { store, images, client }), /127\.0\.0\.1:9/);
});

test('htpasswd basic auth: caller credentials, config.json, refusals', { skip: skip || (!haveHtpasswd() && 'htpasswd (apache2-utils) is not installed') }, async () => {
  const reg = await startRegistry({ auth: { kind: 'htpasswd', users: { alice: 'wonderland' } } });
  try {
    const creds = credentialChain({ caller: { username: 'alice', password: 'wonderland' } });
    await pushTest(reg, img, img.manifestDesc, `${reg.host}/private/img:1`, { credentials: creds });
    const ref = `${reg.host}/private/img:1`;
    const { store, images } = fresh('basic');
    await assert.rejects(pullImage(ref, { store, images }), (e: unknown) => e instanceof BerthError && e.code === 'PERMISSION_DENIED' && /no credentials/.test(e.message));
    const bad = new RegistryClient({ credentials: credentialChain({ caller: { username: 'alice', password: 'wrong' } }) });
    await assert.rejects(pullImage(ref, { store, images, client: bad }), (e: unknown) => e instanceof BerthError && e.code === 'PERMISSION_DENIED');
    // CRI AuthConfig with "auth"
    const cri = credentialsFromAuthConfig({ auth: Buffer.from('alice:wonderland').toString('base64') });
    const client = new RegistryClient({ credentials: credentialChain(cri ? { caller: cri } : {}) });
    await pullImage(ref, { store, images, client });
    await verifyPulled(store, img);
    // docker config.json
    const cfgFile = path.join(work, 'docker-config.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ auths: { [`http://${reg.host}/v2/`]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }));
    const s2 = fresh('basic2');
    const c2 = new RegistryClient({ credentials: credentialChain({ dockerConfig: DockerConfig.load(cfgFile) }) });
    const rec = await pullImage(ref, { ...s2, client: c2 });
    assert.equal(rec.target.digest, img.manifestDesc.digest);
    assert.equal(c2.stats.tokenFetches, 0);
  } finally {
    await reg.stop();
  }
});

test('bearer token flow: token server, scopes, caching, anonymous pull, refresh tokens', { skip }, async () => {
  const certDir = fs.mkdtempSync(path.join(work, 'cert-'));
  const cert = makeCertPair(certDir);
  const ts = await startTokenServer({ cert, users: { bob: 'builder' }, refreshTokens: { bob: 'bob-refresh' }, anonymousPull: true });
  const reg = await startRegistry({ auth: { kind: 'token', realm: ts.realm, service: ts.service, issuer: ts.issuer, rootCertBundle: cert.certFile } });
  try {
    const ref = `${reg.host}/team/app:1`;
    // anonymous push is refused (token without push)
    await assert.rejects(pushTest(reg, dimg, dimg.manifestDesc, ref), (e: unknown) => e instanceof BerthError && e.code === 'PERMISSION_DENIED');
    await pushTest(reg, dimg, dimg.manifestDesc, ref, { credentials: credentialChain({ caller: { username: 'bob', password: 'builder' } }) });
    assert.ok(ts.requests.some((r) => r.user === 'bob' && r.scopes.includes('repository:team/app:pull,push')));
    // anonymous pull: one token for the pull scope, reused for every request
    const before = ts.requests.length;
    const client = new RegistryClient();
    const { store, images } = fresh('bearer');
    await pullImage(ref, { store, images, client });
    await verifyPulled(store, dimg);
    const mine = ts.requests.slice(before);
    assert.equal(mine.length, 1, JSON.stringify(mine));
    assert.deepEqual(mine[0]!.scopes, ['repository:team/app:pull']);
    assert.equal(client.stats.tokenFetches, 1);
    // a wrong password is refused at the token server
    const bad = new RegistryClient({ credentials: credentialChain({ caller: { username: 'bob', password: 'nope' } }) });
    await assert.rejects(pullImage(ref, { ...fresh('bearer-bad'), client: bad }), (e: unknown) => e instanceof BerthError && e.code === 'PERMISSION_DENIED' && /refused the credentials/.test(e.message));
    // identity (refresh) token: POST to the realm
    const rt = new RegistryClient({ credentials: credentialChain({ caller: { identityToken: 'bob-refresh' } }) });
    await pullImage(ref, { ...fresh('bearer-rt'), client: rt });
    assert.ok(ts.requests.some((r) => r.method === 'POST' && r.user === 'bob'));
    // registry token given by the caller is used as is
    const tokRes = await fetch(`${ts.realm}?service=${ts.service}&scope=repository:team/app:pull`);
    const { token } = (await tokRes.json()) as { token: string };
    const n = ts.requests.length;
    const rtk = new RegistryClient({ credentials: credentialChain({ caller: { registryToken: token } }) });
    await pullImage(ref, { ...fresh('bearer-rtk'), client: rtk });
    assert.equal(ts.requests.length, n, 'no token fetch with a registry token');
  } finally {
    await reg.stop();
    await ts.close();
  }
});

test('faults: 5xx retried, cut connections resumed with Range, range ignored, stalls, redirects drop Authorization', { skip }, async () => {
  const blob = /\/blobs\/sha256:/;
  const big = img.layers[1]!.desc; // ~1.5 MB zstd
  // the "storage" origin differs from the registry's (127.0.0.2 vs 127.0.0.1)
  const storage = await startProxy(plain.host, [], '127.0.0.2');
  const storageOrigin = storage.url;
  const proxy = await startProxy(plain.host, [
    { match: (m, u) => m === 'GET' && u.includes(img.layers[0]!.desc.digest), times: 2, action: { status: 503 } },
    { match: (m, u) => m === 'GET' && u.includes(big.digest), times: 1, action: { cutAfter: 500_000 } },
    { match: (m, u) => m === 'GET' && u.includes(big.digest), times: 1, action: { cutAfter: 600_000 } },
    { match: (m, u) => m === 'GET' && u.includes(big.digest), times: 1, action: { ignoreRange: true } },
    { match: (m, u) => m === 'GET' && u.includes(img.layers[2]!.desc.digest), times: 1, action: { redirect: storageOrigin } },
  ]);
  try {
    const client = new RegistryClient({ backoffMs: 10, credentials: credentialChain({ caller: { registryToken: 'opaque-token' } }) });
    const { store, images } = fresh('faults');
    const rec = await pullImage(`${proxy.host}/berth/oci:v1`, { store, images, client });
    assert.equal(rec.target.digest, img.manifestDesc.digest);
    await verifyPulled(store, img);
    assert.ok(client.stats.retries >= 4, JSON.stringify(client.stats));
    assert.ok(client.stats.resumes >= 2, JSON.stringify(client.stats));
    const bigGets = proxy.requests.filter((r) => r.method === 'GET' && r.url.includes(big.digest));
    assert.equal(bigGets.length, 3, JSON.stringify(bigGets));
    const from = (r: { range?: string }): number => Number(/^bytes=(\d+)-$/.exec(r.range ?? '')?.[1] ?? NaN);
    assert.equal(bigGets[0]!.range, undefined);
    assert.ok(from(bigGets[1]!) > 0 && from(bigGets[1]!) <= 500_000, bigGets[1]!.range);
    // sent, but the proxy drops it: the registry answers 200 and the client skips what it has
    assert.ok(from(bigGets[2]!) > from(bigGets[1]!) && from(bigGets[2]!) <= from(bigGets[1]!) + 600_000, bigGets[2]!.range);
    // redirect: the registry got the token, the storage origin did not
    assert.ok(proxy.requests.filter((r) => blob.test(r.url)).every((r) => r.authorization === 'Bearer opaque-token'));
    const st = storage.requests.filter((r) => r.url.includes(img.layers[2]!.desc.digest));
    assert.equal(st.length, 1);
    assert.equal(st[0]!.authorization, undefined);

    // a stalled body is aborted after noProgressTimeoutMs and resumed
    proxy.rules.push({ match: (m, u) => m === 'GET' && u.includes(big.digest), times: 1, action: { throttle: 50_000 } });
    const c2 = new RegistryClient({ backoffMs: 10, noProgressTimeoutMs: 300 });
    const s2 = fresh('stall');
    await pullImage(`${proxy.host}/berth/oci:v1`, { ...s2, client: c2 });
    assert.ok(c2.stats.resumes >= 1, JSON.stringify(c2.stats));
    await verifyPulled(s2.store, img);

    // an overall deadline
    proxy.rules.push({ match: (m, u) => m === 'GET' && u.includes(big.digest), times: 1, action: { throttle: 20_000 } });
    const s3 = fresh('deadline');
    const t0 = Date.now();
    await assert.rejects(pullImage(`${proxy.host}/berth/oci:v1`, { ...s3, client: new RegistryClient(), timeoutMs: 700 }), (e: unknown) => e instanceof BerthError && e.code === 'TIMEOUT');
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(await s3.images.get(`${proxy.host}/berth/oci:v1`), undefined);
    // ... and what it downloaded is resumable
    proxy.rules.length = 0;
    const n = proxy.requests.length;
    await pullImage(`${proxy.host}/berth/oci:v1`, { ...s3, client: new RegistryClient() });
    const resumed = proxy.requests.slice(n).filter((r) => r.url.includes(big.digest));
    assert.equal(resumed.length, 1);
    assert.match(resumed[0]!.range ?? '', /^bytes=\d+-$/);
    await verifyPulled(s3.store, img);

    // persistent 5xx gives up after the retry budget with the status in the message
    proxy.rules.push({ match: (m, u) => m === 'GET' && u.includes('/manifests/'), action: { status: 502 } });
    const c4 = new RegistryClient({ backoffMs: 5, retries: 2 });
    await assert.rejects(pullImage(`${proxy.host}/berth/oci:v1`, { ...fresh('5xx'), client: c4 }), /HTTP 502/);
    assert.equal(c4.stats.retries, 2);
  } finally {
    await proxy.close();
    await storage.close();
  }
});

test('concurrency limit on blob downloads', { skip }, async () => {
  const many = await buildImage({
    format: 'oci',
    layers: Array.from({ length: 6 }, (_, i) => ({ entries: generatedEntries(`m${i}`, 200_000), compression: 'gzip' as const })),
  });
  await pushTest(plain, many, many.manifestDesc, `${plain.host}/berth/many:1`);
  for (const limit of [1, 3]) {
    const proxy = await startProxy(plain.host, [{ match: (m, u) => m === 'GET' && u.includes('/blobs/'), action: { throttle: 2_000_000 } }]);
    try {
      const opts: PullOptions = { ...fresh(`limit${limit}`), client: new RegistryClient({ maxConcurrentDownloads: limit }) };
      await pullImage(`${proxy.host}/berth/many:1`, opts);
      assert.equal(proxy.maxInflightBlobGets(), limit);
    } finally {
      await proxy.close();
    }
  }
  // a consumer that reads the layer streams strictly in order does not deadlock (layers larger than
  // the stream buffers, so later layers block on backpressure while holding download slots)
  const seqImg = await buildImage({
    format: 'oci',
    layers: Array.from({ length: 6 }, (_, i) => ({ entries: generatedEntries(`s${i}`, 3_000_000), compression: 'gzip' as const })),
  });
  await pushTest(plain, seqImg, seqImg.manifestDesc, `${plain.host}/berth/seq:1`);
  for (const limit of [1, 2]) {
    const order: number[] = [];
    let prev: Promise<void> = Promise.resolve();
    const opts: PullOptions = {
      ...fresh(`seq${limit}`),
      client: new RegistryClient({ maxConcurrentDownloads: limit }),
      onLayerStream: (layer, tar) => {
        const mine = prev.then(async () => {
          order.push(layer.index);
          await collect(tar);
        });
        prev = mine;
        return mine;
      },
    };
    await pullImage(`${plain.host}/berth/seq:1`, { ...opts, timeoutMs: 30_000 });
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  }
  // a consumer that never reads: the deadline still ends the pull
  const t0 = Date.now();
  await assert.rejects(
    pullImage(`${plain.host}/berth/seq:1`, { ...fresh('stuck'), client: new RegistryClient(), timeoutMs: 1500, onLayerStream: () => new Promise<void>(() => undefined) }),
    (e: unknown) => e instanceof BerthError && e.code === 'TIMEOUT',
  );
  assert.ok(Date.now() - t0 < 10_000);
});

test('HTTPS: trusted through hosts.toml ca, skip_verify, refused without either', { skip }, async () => {
  const certDir = fs.mkdtempSync(path.join(work, 'tls-'));
  const cert = makeCertPair(certDir, 'berth-test-registry', 'IP:127.0.0.1');
  const reg = await startRegistry({ tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
  try {
    const hostsDir = path.join(work, 'tls-hosts');
    const dir = path.join(hostsDir, reg.host);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(cert.certFile, path.join(dir, 'ca.pem'));
    fs.writeFileSync(path.join(dir, 'hosts.toml'), `server = "https://${reg.host}"\nca = "ca.pem"\n`);
    const ref = `${reg.host}/secure/img:1`;
    await pushTest(reg, dimg, dimg.manifestDesc, ref, { hostsDir });
    const rec = await pullImage(ref, { ...fresh('tls'), client: new RegistryClient({ hostsDir }) });
    assert.equal(rec.target.digest, dimg.manifestDesc.digest);
    // no configuration: the self-signed certificate is refused (and there is no silent plain-HTTP downgrade)
    await assert.rejects(pullImage(ref, { ...fresh('tls-no'), client: new RegistryClient({ retries: 0 }) }), /certificate/i);
    fs.writeFileSync(path.join(dir, 'hosts.toml'), `server = "https://${reg.host}"\nskip_verify = true\n`);
    const rec2 = await pullImage(ref, { ...fresh('tls-skip'), client: new RegistryClient({ hostsDir }) });
    assert.equal(rec2.target.digest, dimg.manifestDesc.digest);
  } finally {
    await reg.stop();
  }
});
