/**
 * RegistryClient against an in-process fake registry (no docker-registry needed): bearer challenge,
 * token caching, basic auth, Range resume after a cut, 5xx retries, redirects without credentials.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { BerthError } from '../../src/runtime/errors';
import { RegistryClient, credentialChain } from '../../src/image/registry';
import { MediaType } from '../../src/image/manifest/types';

const blob = randomBytes(300_000);
const blobDigest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: blobDigest, size: blob.length }, layers: [] }));
const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

interface Seen {
  url: string;
  auth?: string;
  range?: string;
  host: string;
}

async function listen(server: http.Server, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return `${host}:${(server.address() as AddressInfo).port}`;
}

async function fakeRegistry(mode: 'bearer' | 'basic'): Promise<{ host: string; seen: Seen[]; tokens: string[]; faults: string[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const tokens: string[] = [];
  const faults: string[] = [];
  let host = '';
  const storage = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', host: 'storage', ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    res.writeHead(200, { 'content-length': String(blob.length) });
    res.end(blob);
  });
  const storageHost = await listen(storage, '127.0.0.2');
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    const s: Seen = { url, host: 'registry' };
    if (req.headers.authorization) s.auth = req.headers.authorization;
    if (req.headers.range) s.range = req.headers.range;
    seen.push(s);
    if (url.startsWith('/token')) {
      const u = new URL(url, 'http://x');
      tokens.push(u.searchParams.getAll('scope').join(' '));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: 'T1', expires_in: 300 }));
      return;
    }
    const ok = mode === 'bearer' ? req.headers.authorization === 'Bearer T1' : req.headers.authorization === `Basic ${Buffer.from('u:p').toString('base64')}`;
    if (!ok) {
      res.writeHead(401, {
        'www-authenticate': mode === 'bearer' ? `Bearer realm="http://${host}/token",service="fake",scope="repository:a/b:pull"` : 'Basic realm="fake"',
      });
      res.end();
      return;
    }
    const fault = faults.shift();
    if (fault === '503') {
      res.writeHead(503);
      res.end();
      return;
    }
    if (fault === 'redirect') {
      res.writeHead(307, { location: `http://${storageHost}/blob-data` });
      res.end();
      return;
    }
    if (url === '/v2/a/b/manifests/v1') {
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'docker-content-digest': manifestDigest });
      res.end(manifest);
      return;
    }
    if (url === `/v2/a/b/blobs/${blobDigest}`) {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, { 'content-length': String(blob.length - start), ...(m ? { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}) });
      if (fault === 'cut') {
        res.write(blob.subarray(start, start + 100_000), () => res.socket?.destroy());
        return;
      }
      res.end(blob.subarray(start));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  host = await listen(server);
  return {
    host,
    seen,
    tokens,
    faults,
    close: async () => {
      server.closeAllConnections();
      storage.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => storage.close(r))]);
    },
  };
}

function sink(): { offset: number; data: Buffer[]; write: (c: Buffer) => Promise<void> } {
  const s = {
    offset: 0,
    data: [] as Buffer[],
    async write(c: Buffer) {
      s.data.push(c);
      s.offset += c.length;
    },
  };
  return s;
}

test('bearer: challenge, token fetched once per scope, then reused', async (t) => {
  const reg = await fakeRegistry('bearer');
  t.after(() => reg.close());
  const client = new RegistryClient({ backoffMs: 5 });
  const repo = { domain: reg.host, path: 'a/b' };
  const m = await client.fetchManifest(repo, 'v1');
  assert.equal(m.digest, manifestDigest);
  assert.equal(m.mediaType, MediaType.OciManifest);
  const s = sink();
  await client.fetchBlob(repo, { mediaType: 'x', digest: blobDigest, size: blob.length }, s);
  assert.ok(Buffer.concat(s.data).equals(blob));
  assert.deepEqual(reg.tokens, ['repository:a/b:pull']);
  assert.equal(client.stats.tokenFetches, 1);
  // a tag whose manifest does not match the requested digest is refused
  await assert.rejects(client.fetchManifest(repo, `sha256:${'0'.repeat(64)}`), (e: unknown) => e instanceof BerthError);
});

test('resume with Range after a cut, 503 retried, redirect to storage without Authorization', async (t) => {
  const reg = await fakeRegistry('basic');
  t.after(() => reg.close());
  const client = new RegistryClient({ backoffMs: 5, credentials: credentialChain({ caller: { username: 'u', password: 'p' } }) });
  const repo = { domain: reg.host, path: 'a/b' };
  const desc = { mediaType: 'x', digest: blobDigest, size: blob.length };
  reg.faults.push('503', 'cut', 'cut');
  const s = sink();
  await client.fetchBlob(repo, desc, s);
  assert.ok(Buffer.concat(s.data).equals(blob));
  const ranges = reg.seen.filter((x) => x.url.includes('/blobs/') && x.auth).map((x) => x.range ?? '');
  assert.deepEqual(ranges, ['', '', 'bytes=100000-', 'bytes=200000-']);
  assert.equal(client.stats.retries, 3);
  reg.faults.push('redirect');
  const s2 = sink();
  await client.fetchBlob(repo, desc, s2);
  assert.ok(Buffer.concat(s2.data).equals(blob));
  const st = reg.seen.filter((x) => x.host === 'storage');
  assert.equal(st.length, 1);
  assert.equal(st[0]!.auth, undefined);
  // no credentials: a clear refusal
  const anon = new RegistryClient();
  await assert.rejects(anon.fetchManifest(repo, 'v1'), (e: unknown) => e instanceof BerthError && e.code === 'PERMISSION_DENIED' && /no credentials/.test(e.message));
});

test('a stalled body is aborted by the no-progress timeout and the deadline ends retries', async (t) => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write(Buffer.alloc(10)); // then nothing
  });
  const host = await listen(server);
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const client = new RegistryClient({ noProgressTimeoutMs: 100, backoffMs: 10, retries: 100 });
  const t0 = Date.now();
  await assert.rejects(
    client.fetchBlob({ domain: host, path: 'a/b' }, { mediaType: 'x', digest: blobDigest, size: 1000 }, sink(), { deadline: Date.now() + 800 }),
    (e: unknown) => e instanceof BerthError && e.code === 'TIMEOUT',
  );
  assert.ok(Date.now() - t0 < 3000);
  assert.ok(client.stats.retries >= 1);
});
