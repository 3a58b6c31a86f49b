import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { LayerDecoder, chainIds, sniffCompression } from '../../src/image/pull/decode';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function payload(): Buffer {
  // compressible and random parts
  return Buffer.concat([Buffer.alloc(300_000, 'a'), randomBytes(700_000), Buffer.from('end')]);
}

async function decode(compressed: Buffer, chunk = 65536, slowConsumer = false): Promise<{ diff: string; out: Buffer }> {
  const out = new PassThrough({ highWaterMark: 1024 });
  const parts: Buffer[] = [];
  const consumed = (async () => {
    for await (const c of out as AsyncIterable<Buffer>) {
      parts.push(c);
      if (slowConsumer) await new Promise((r) => setImmediate(r));
    }
  })();
  const dec = new LayerDecoder(out);
  for (let i = 0; i < compressed.length; i += chunk) await dec.push(compressed.subarray(i, i + chunk));
  const diff = await dec.finish();
  out.end();
  await consumed;
  return { diff, out: Buffer.concat(parts) };
}

test('sniffs compression from magic bytes', () => {
  assert.equal(sniffCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  assert.equal(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  assert.equal(sniffCompression(Buffer.from('ustar')), 'none');
});

test('gzip, multi-member gzip, zstd and uncompressed decode to the same diff_id', async () => {
  const data = payload();
  const want = sha(data);
  const gz = zlib.gzipSync(data);
  const multi = Buffer.concat([zlib.gzipSync(data.subarray(0, 400_000)), zlib.gzipSync(data.subarray(400_000))]);
  const zst = execFileSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 26 });
  for (const [name, c] of [['gzip', gz], ['multi', multi], ['zstd', zst], ['none', data]] as Array<[string, Buffer]>) {
    for (const chunk of [1, 7, 65536]) {
      if (chunk === 1 && c.length > 200_000) {
        // byte-at-a-time only for the head: the sniffer must cope with a split magic
        const dec = new LayerDecoder();
        await dec.push(c.subarray(0, 1));
        await dec.push(c.subarray(1, 3));
        await dec.push(c.subarray(3));
        assert.equal(await dec.finish(), want, `${name} split head`);
        continue;
      }
      const r = await decode(c, chunk, chunk === 65536);
      assert.equal(r.diff, want, `${name}/${chunk}`);
      assert.ok(r.out.equals(data), `${name}/${chunk} output`);
    }
  }
});

test('tiny and empty layers', async () => {
  const dec = new LayerDecoder();
  await dec.push(Buffer.from('ab'));
  assert.equal(await dec.finish(), sha('ab'));
  assert.equal(await new LayerDecoder().finish(), sha(''));
});

test('corrupt gzip and zstd data fail', async () => {
  const gz = zlib.gzipSync(payload());
  const broken = Buffer.from(gz);
  for (let i = 100; i < 400; i++) broken[i] = broken[i]! ^ 0x5a;
  await assert.rejects(decode(broken), /corrupt gzip/);
  const truncated = gz.subarray(0, gz.length - 100);
  await assert.rejects(decode(truncated), /corrupt gzip|unexpected end/i);
  const zdata = payload();
  const zst = execFileSync('zstd', ['-q', '-c'], { input: zdata, maxBuffer: 1 << 26 });
  const zb = Buffer.from(zst);
  for (let i = 50; i < 300; i++) zb[i] = zb[i]! ^ 0x5a;
  // fzstd does not check the frame checksum: corruption shows as an error or as a wrong diff_id
  // (which the pull rejects)
  const r = await decode(zb).catch((e: Error) => e);
  if (r instanceof Error) assert.match(r.message, /corrupt zstd/);
  else assert.notEqual(r.diff, sha(zdata));
});

test('a consumer that closes its stream stops the decoder', async () => {
  const out = new PassThrough({ highWaterMark: 16 });
  const dec = new LayerDecoder(out);
  const gz = zlib.gzipSync(payload());
  out.destroy();
  await assert.rejects(async () => {
    for (let i = 0; i < gz.length; i += 4096) await dec.push(gz.subarray(i, i + 4096));
    await dec.finish();
  }, /consumer closed/);
});

test('chain IDs', () => {
  const a = sha('a');
  const b = sha('b');
  const c = sha('c');
  const ids = chainIds([a, b, c]);
  assert.equal(ids[0], a);
  assert.equal(ids[1], sha(`${a} ${b}`));
  assert.equal(ids[2], sha(`${ids[1]} ${c}`));
  assert.deepEqual(chainIds([]), []);
});
