import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BerthError } from '../../src/runtime/errors';
import {
  MediaType,
  compatiblePlatforms,
  formatPlatform,
  goArch,
  hostPlatform,
  normalizePlatform,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectManifest,
  type Descriptor,
  type ImageIndex,
} from '../../src/image/manifest';

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function desc(n: number, platform?: Descriptor['platform'], mediaType: string = MediaType.OciManifest): Descriptor {
  const x: Descriptor = { mediaType, digest: d(n), size: 100 + n };
  if (platform) x.platform = platform;
  return x;
}

test('goArch and hostPlatform', () => {
  assert.equal(goArch('x64'), 'amd64');
  assert.equal(goArch('arm64'), 'arm64');
  assert.equal(goArch('ia32'), '386');
  assert.equal(goArch('mipsel'), 'mipsle');
  assert.equal(goArch('s390x'), 's390x');
  const h = hostPlatform();
  assert.equal(h.os, 'linux');
  assert.equal(h.architecture, goArch(process.arch));
});

test('platform normalisation and parsing', () => {
  assert.deepEqual(normalizePlatform({ os: 'Linux', architecture: 'x86_64' }), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: 'v8' }), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'armhf' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm', variant: '6' }), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'amd64', variant: 'v1' }), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.equal(formatPlatform(parsePlatform('linux/arm64/v8')), 'linux/arm64');
  assert.throws(() => parsePlatform('linux'), /os\/arch/);
  assert.throws(() => parsePlatform('linux//v7'), /os\/arch/);
});

test('compatible platforms: arm64 falls back to arm/v7..v5; arm/v7 to v6, v5; amd64/v3 to v2, v1', () => {
  assert.deepEqual(compatiblePlatforms(parsePlatform('linux/arm64')).map(formatPlatform), ['linux/arm64', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  assert.deepEqual(compatiblePlatforms(parsePlatform('linux/arm/v7')).map(formatPlatform), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  assert.deepEqual(compatiblePlatforms(parsePlatform('linux/amd64')).map(formatPlatform), ['linux/amd64']);
  assert.deepEqual(compatiblePlatforms(parsePlatform('linux/amd64/v3')).map(formatPlatform), ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64']);
});

test('selectManifest picks the best match, skips platform-less entries, errors listing the offer', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      desc(1, { os: 'linux', architecture: 'arm', variant: 'v6' }),
      desc(2, { os: 'unknown', architecture: 'unknown' }),
      desc(3),
      desc(4, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      desc(5, { os: 'linux', architecture: 'amd64' }),
      desc(6, { os: 'linux', architecture: 'arm', variant: 'v7' }),
      desc(7, { os: 'windows', architecture: 'amd64' }),
    ],
  };
  assert.equal(selectManifest(index, parsePlatform('linux/amd64')).digest, d(5));
  assert.equal(selectManifest(index, parsePlatform('linux/arm64')).digest, d(4));
  assert.equal(selectManifest(index, parsePlatform('linux/arm/v7')).digest, d(6));
  assert.equal(selectManifest(index, parsePlatform('linux/arm/v6')).digest, d(1));
  assert.equal(selectManifest(index, parsePlatform('windows/amd64')).digest, d(7));
  assert.throws(() => selectManifest(index, parsePlatform('linux/s390x')), (err: unknown) => {
    assert.ok(err instanceof BerthError && err.code === 'NOT_FOUND');
    assert.match(err.message, /linux\/s390x.*offers: linux\/arm\/v6, unknown\/unknown, linux\/arm64, linux\/amd64/);
    return true;
  });
  // arm64 host with only 32-bit arm images
  const armOnly: ImageIndex = { schemaVersion: 2, manifests: [desc(1, { os: 'linux', architecture: 'arm', variant: 'v6' }), desc(6, { os: 'linux', architecture: 'arm' })] };
  assert.equal(selectManifest(armOnly, parsePlatform('linux/arm64')).digest, d(6));
});

function json(o: unknown): Buffer {
  return Buffer.from(JSON.stringify(o));
}

test('parseManifest: OCI and Docker manifests and indexes', () => {
  const m = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: desc(1, undefined, MediaType.OciConfig), layers: [desc(2, undefined, MediaType.OciLayerGzip)] };
  const p = parseManifest(json(m), MediaType.OciManifest);
  assert.equal(p.kind, 'manifest');
  // OCI without mediaType: detected from the fields / content type
  const { mediaType: _drop, ...noMt } = m;
  void _drop;
  assert.equal(parseManifest(json(noMt)).mediaType, MediaType.OciManifest);
  assert.equal(parseManifest(json({ schemaVersion: 2, manifests: [] })).kind, 'index');
  const dm = { ...m, mediaType: MediaType.DockerManifest };
  assert.equal(parseManifest(json(dm), 'application/vnd.docker.distribution.manifest.v2+json; charset=utf-8').mediaType, MediaType.DockerManifest);
  const list = { schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [desc(3, { os: 'linux', architecture: 'amd64' }, MediaType.DockerManifest)] };
  const pl = parseManifest(json(list), MediaType.DockerManifestList);
  assert.equal(pl.kind, 'index');
  if (pl.kind === 'index') assert.equal(pl.index.manifests[0]!.platform?.architecture, 'amd64');
});

test('parseManifest refuses schema 1 naming it', () => {
  const s1 = { schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [], history: [] };
  for (const [bytes, ct] of [
    [json(s1), undefined],
    [json(s1), MediaType.DockerManifestSchema1Signed],
    [json({ schemaVersion: 2, mediaType: MediaType.DockerManifestSchema1 }), undefined],
  ] as Array<[Buffer, string | undefined]>) {
    assert.throws(() => parseManifest(bytes, ct), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.code, 'UNSUPPORTED');
      assert.match(err.message, /schema 1 \(application\/vnd\.docker\.distribution\.manifest\.v1\+json\) is not supported/);
      return true;
    });
  }
});

test('parseManifest is strict', () => {
  const good = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: desc(1, undefined, MediaType.OciConfig), layers: [desc(2)] };
  const bad: Array<[unknown, RegExp, string?]> = [
    ['not json', /not JSON/],
    [[1, 2], /not a JSON object/],
    [{ ...good, schemaVersion: 3 }, /schemaVersion must be 2/],
    [{ ...good, layers: 'x' }, /layers must be an array/],
    [{ ...good, config: { ...good.config, digest: 'sha256:xyz' } }, /config\.digest/],
    [{ ...good, config: { ...good.config, size: -1 } }, /config\.size/],
    [{ ...good, config: { ...good.config, size: 1.5 } }, /config\.size/],
    [{ ...good, config: { ...good.config, size: '10' } }, /config\.size/],
    [{ ...good, layers: [{ ...desc(2), mediaType: 7 }] }, /layers\[0\]\.mediaType/],
    [{ ...good, layers: [{ ...desc(2), annotations: { a: 1 } }] }, /annotations\.a/],
    [{ ...good, layers: [{ ...desc(2), urls: [1] }] }, /urls/],
    [{ ...good, mediaType: 'application/x-weird' }, /unsupported manifest media type/],
    [good, /does not match content type/, MediaType.OciIndex],
    [{ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [desc(1, { os: 'linux' } as never)] }, /platform needs string os and architecture/],
    [{ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [], layers: [] }, /an index has no config or layers/],
    [{ schemaVersion: 2 }, /neither an image manifest nor an index/],
    [{ ...good, mediaType: undefined }, /Docker schema 2 documents must carry their mediaType/, MediaType.DockerManifest],
  ];
  for (const [doc, re, ct] of bad) {
    const bytes = typeof doc === 'string' ? Buffer.from(doc) : json(doc);
    assert.throws(() => parseManifest(bytes, ct), re, String(re));
  }
});

test('parseImageConfig checks rootfs and diff_ids', () => {
  const c = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [d(1)] }, config: { Cmd: ['sh'] } };
  assert.deepEqual(parseImageConfig(json(c)).rootfs.diff_ids, [d(1)]);
  assert.equal(parseImageConfig(json({ ...c, config: null })).config, undefined);
  assert.throws(() => parseImageConfig(json({ ...c, rootfs: { type: 'x', diff_ids: [] } })), /rootfs/);
  assert.throws(() => parseImageConfig(json({ ...c, rootfs: { type: 'layers', diff_ids: ['nope'] } })), /diff_ids\[0\]/);
  assert.throws(() => parseImageConfig(json({ ...c, os: 1 })), /architecture and os/);
  assert.throws(() => parseImageConfig(json({ ...c, config: [] })), /config must be an object/);
});
