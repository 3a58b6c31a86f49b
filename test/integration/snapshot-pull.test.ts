/**
 * Root only: a pull from a real docker-registry streams every layer (gzip, zstd, uncompressed)
 * straight into overlay snapshots through pullUnpacker; the container rootfs shows the image with
 * its whiteouts applied, the user resolves through the image's /etc/passwd, and a second pull
 * unpacks nothing.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { imageRuntimeConfig, readUserDb, type ImageConfig } from '../../src/image/config';
import { ContentStore, ImageStore } from '../../src/image/content';
import { pullImage } from '../../src/image/pull';
import { parseReference } from '../../src/image/ref';
import { RegistryClient, pushImage } from '../../src/image/registry';
import { chainIds, mountPoints, pullUnpacker, Snapshotter } from '../../src/image/snapshot';
import { run } from '../../src/image/snapshot/mount';
import { haveDockerRegistry, startRegistry } from '../helpers/registry';
import { buildImage, busyboxEntries, generatedEntries, storeBlobs } from '../helpers/registry-images';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

test('pull straight into overlay snapshots, then run-ready rootfs', { skip: (!isRoot || !haveDockerRegistry()) && 'needs root and docker-registry' }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-snappull-'));
  const reg = await startRegistry();
  t.after(async () => {
    for (const m of (await mountPoints()).filter((x) => x.startsWith(`${work}/`)).reverse()) await run('umount', ['-l', m]);
    await reg.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });
  const image = await buildImage({
    format: 'oci',
    cmd: ['/bin/sh', '-c', 'echo hi'],
    layers: [
      {
        entries: [
          ...busyboxEntries(),
          { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nweb:x:33:44:web:/var/www:/bin/sh\n' },
          { name: 'etc/group', data: 'root:x:0:\nweb:x:44:\nextra:x:55:web\n' },
          { name: 'old.txt', data: 'old' },
        ],
        compression: 'gzip',
      },
      { entries: [...generatedEntries('a', 2_000_000, 500_000), { name: '.wh.old.txt', data: '' }], compression: 'zstd' },
      { entries: generatedEntries('b', 1_000_000), compression: 'none' },
    ],
  });
  const src = new ContentStore(path.join(work, 'src'));
  await storeBlobs(src, image.blobs);
  const ref = `${reg.host}/berth/snap:1`;
  await pushImage(new RegistryClient(), src, image.manifestDesc, parseReference(ref));

  const root = path.join(work, 'store');
  const snaps = await Snapshotter.open({ root: path.join(root, 'snapshots'), driver: 'overlay' });
  const unpacked: number[] = [];
  const opts = () => ({
    store: new ContentStore(root),
    images: new ImageStore(root),
    client: new RegistryClient(),
    ...pullUnpacker(snaps, { onLayer: (l) => unpacked.push(l.index) }),
  });
  await pullImage(ref, opts());
  assert.deepEqual(unpacked.sort(), [0, 1, 2]);
  const ids = chainIds(image.layers.map((l) => l.diffId));
  for (const id of ids) assert.ok(await snaps.stat(id), `layer ${id} committed`);

  const target = path.join(work, 'rootfs');
  fs.mkdirSync(target);
  await snaps.prepare('c1', ids[2]);
  await snaps.mount('c1', target);
  try {
    assert.ok(fs.statSync(path.join(target, 'bin/busybox')).mode & 0o100);
    assert.equal(fs.readlinkSync(path.join(target, 'bin/sh')), 'busybox');
    assert.equal(fs.existsSync(path.join(target, 'old.txt')), false, 'whiteout from the zstd layer applied');
    assert.equal(fs.statSync(path.join(target, 'data-a/random.bin')).size, 2_000_000);
    assert.equal(fs.statSync(path.join(target, 'data-b/random.bin')).size, 1_000_000);
    const rc = imageRuntimeConfig(JSON.parse(image.config.toString()) as ImageConfig, { user: 'web' }, await readUserDb(target));
    assert.deepEqual(rc.process.args, ['/bin/sh', '-c', 'echo hi']);
    assert.deepEqual(rc.process.user, { uid: 33, gid: 44, additionalGids: [55], username: 'web', home: '/var/www' });
  } finally {
    await snaps.unmount(target);
  }
  await snaps.remove('c1');

  // A second pull of the same image: nothing is unpacked again.
  unpacked.length = 0;
  await pullImage(ref, opts());
  assert.deepEqual(unpacked, []);
  assert.deepEqual((await mountPoints()).filter((x) => x.startsWith(`${work}/`)), []);
});
