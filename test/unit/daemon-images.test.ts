import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { groupById, imageIdentity, userOf } from '../../src/daemon/image-identity';
import type { ImageRecord } from '../../src/image/content';

const CFG = 'sha256:' + 'c'.repeat(64);
const MAN = 'sha256:' + 'm'.repeat(0) + '1'.repeat(64);
const IDX = 'sha256:' + '2'.repeat(64);

function record(name: string, target = MAN, config = CFG): ImageRecord {
  return {
    name,
    target: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: target, size: 500 },
    manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: MAN, size: 400 },
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 300 },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:' + 'a'.repeat(64), size: 1000 },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:' + 'b'.repeat(64), size: 20 },
    ],
    diffIds: ['sha256:' + 'd'.repeat(64), 'sha256:' + 'e'.repeat(64)],
    platform: { os: 'linux', architecture: 'amd64' },
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt: '2024-01-01T00:00:00Z',
  };
}

test('image identity: id, tags, digests, size', () => {
  const recs = [record('docker.io/library/busybox:latest', IDX), record('docker.io/library/busybox:1.36', IDX), record(`docker.io/library/busybox@${IDX}`, IDX), record('example.org/mirror/box:v1')];
  const id = imageIdentity(recs, 'nobody');
  assert.equal(id.id, CFG);
  assert.deepEqual(id.repoTags, ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:latest', 'example.org/mirror/box:v1']);
  assert.deepEqual(id.repoDigests, [`docker.io/library/busybox@${IDX}`, `example.org/mirror/box@${MAN}`]);
  assert.equal(id.size, 400 + 300 + 1000 + 20);
  assert.equal(id.uid, null);
  assert.equal(id.username, 'nobody');
  assert.throws(() => imageIdentity([], undefined));
});

test('uid and username from the config User', () => {
  assert.deepEqual(userOf(undefined), { uid: null, username: '' });
  assert.deepEqual(userOf(''), { uid: null, username: '' });
  assert.deepEqual(userOf('0'), { uid: 0, username: '' });
  assert.deepEqual(userOf('1000:1000'), { uid: 1000, username: '' });
  assert.deepEqual(userOf('www-data:www-data'), { uid: null, username: 'www-data' });
});

test('records are grouped by config digest in order', () => {
  const other = 'sha256:' + 'f'.repeat(64);
  const g = groupById([record('a.io/x:1'), record('a.io/y:1', MAN, other), record('a.io/x:2')]);
  assert.deepEqual([...g.keys()], [CFG, other]);
  assert.deepEqual(g.get(CFG)!.map((r) => r.name), ['a.io/x:1', 'a.io/x:2']);
});
