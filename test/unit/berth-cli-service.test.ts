/**
 * The image service behind berth's commands (src/image/service): lookup by name, ID and ID prefix,
 * the reference filter of `images`, rmi's refusals (several repositories; the container-users hook),
 * tag, prune and rootfs import, on a temporary root with images made by `importRootfs`.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { ImageService, applyChange, importRootfs, imageSummaries, matchesReference, notFoundMessage } from '../../src/image/service';
import { BerthError } from '../../src/runtime/errors';

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, data] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function service(t: { after: (fn: () => void) => void }, hook?: (id: string) => Promise<string[]>): ImageService {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-svc-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  return new ImageService(hook ? { root, imageUsers: hook } : { root });
}

test('lookup by name, full ID and ID prefix; clear not-found messages', async (t) => {
  const svc = service(t);
  const rec = await importRootfs(svc, Readable.from([await tarOf({ 'hello.txt': 'hi' })]), { reference: 'hello:1' });
  const id = rec.config.digest;
  assert.equal((await svc.find('hello:1')).byName?.name, 'docker.io/library/hello:1');
  assert.equal((await svc.find('docker.io/library/hello:1')).id, id);
  assert.equal((await svc.find(id)).records.length, 1);
  assert.equal((await svc.find(id.slice(7, 13))).id, id);
  await assert.rejects(svc.find('hello'), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND' && e.message === 'image "hello:latest" not found locally; try: berth pull hello:latest');
  assert.equal(notFoundMessage('Bad:Name:x'), 'image "Bad:Name:x" not found locally (no image has that name or ID); see: berth images');
});

test('tag, rmi refusals, the container-users hook, and cleanup of content', async (t) => {
  let users: string[] = [];
  const svc = service(t, async () => users);
  const rec = await importRootfs(svc, Readable.from([await tarOf({ a: '1' })]), { reference: 'one:1' });
  const id = rec.config.digest;
  await svc.tag('one:1', 'quay.io/two/x:2');
  await assert.rejects(svc.tag('one:1', 'x@sha256:' + 'a'.repeat(64)), /cannot carry a digest/);
  const sums = await imageSummaries(svc);
  assert.deepEqual(sums.map((s) => `${s.Repository}:${s.Tag}`).sort(), ['one:1', 'quay.io/two/x:2']);
  await assert.rejects(svc.remove(id.slice(7, 19)), /must be forced/);
  // untag one name: the image stays
  assert.deepEqual(await svc.remove('quay.io/two/x:2'), { untagged: ['quay.io/two/x:2'], deleted: undefined });
  users = ['web-1'];
  await assert.rejects(svc.remove('one:1'), /in use by container web-1/);
  users = [];
  const r = await svc.remove('one:1');
  assert.equal(r.deleted, id);
  assert.deepEqual(await svc.content.listBlobs(), []);
  assert.deepEqual((await (await svc.snapshotter()).list()).length, 0);
});

test('prune: only unreferenced content without -a, every unused image with -a', async (t) => {
  let users: string[] = [];
  const svc = service(t, async (id) => (id === keep ? users : []));
  const a = await importRootfs(svc, Readable.from([await tarOf({ a: 'a' })]), { reference: 'a:1' });
  await importRootfs(svc, Readable.from([await tarOf({ b: 'b' })]), { reference: 'b:1' });
  const keep = a.config.digest;
  // an orphan blob, as a moved tag leaves behind
  await svc.content.putBlob(Buffer.from('orphan'));
  const p1 = await svc.prune(false);
  assert.deepEqual(p1.untagged, []);
  assert.equal(p1.bytes, 6);
  users = ['c1'];
  const p2 = await svc.prune(true);
  assert.deepEqual(p2.untagged, ['docker.io/library/b:1'], 'the image a container uses stays');
  assert.deepEqual((await svc.images.list()).map((r) => r.name), ['docker.io/library/a:1']);
});

test('images filter argument', () => {
  const n = 'docker.io/library/busybox:1.36';
  assert.ok(matchesReference(n, 'busybox'));
  assert.ok(matchesReference(n, 'busybox:1.36'));
  assert.ok(matchesReference(n, 'docker.io/library/busybox'));
  assert.ok(!matchesReference(n, 'busybox:latest'));
  assert.ok(matchesReference(n, 'busy*'));
  assert.ok(matchesReference(n, 'busybox:1.*'));
  assert.ok(!matchesReference(n, 'alpine'));
  assert.ok(matchesReference('quay.io/a/b:2', 'quay.io/a/*'));
});

test('import: rootfs tar to a one-layer image, changes applied, non-tar refused', async (t) => {
  const svc = service(t);
  const rec = await importRootfs(svc, Readable.from([await tarOf({ 'etc/x': 'y' })]), { changes: ['CMD ["/bin/sh","-c","echo hi"]', 'ENV A=1 B=2', 'EXPOSE 80', 'WORKDIR /srv'] });
  assert.match(rec.name, /^docker\.io\/library\/import@sha256:[0-9a-f]{64}$/);
  const cfg = await svc.config(rec);
  assert.deepEqual(cfg.config?.Cmd, ['/bin/sh', '-c', 'echo hi']);
  assert.ok(cfg.config?.Env?.includes('A=1') && cfg.config.Env.includes('B=2'));
  assert.deepEqual(cfg.config?.ExposedPorts, { '80/tcp': {} });
  assert.equal(cfg.config?.WorkingDir, '/srv');
  assert.equal(cfg.rootfs.diff_ids.length, 1);
  await assert.rejects(importRootfs(svc, Readable.from([Buffer.alloc(2048, 'x')])), /not a tar archive/);
  const c: Record<string, unknown> = {};
  assert.throws(() => applyChange(c, 'RUN make'), /unsupported --change instruction RUN/);
  applyChange(c, 'ENTRYPOINT /init --flag');
  assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', '/init --flag']);
});
