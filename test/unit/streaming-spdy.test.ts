import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { SPDY3_HEADER_DICTIONARY } from '../../src/cri/streaming/spdy-dictionary';
import {
  FLAG_FIN,
  FrameParser,
  FrameType,
  HeaderCodec,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SpdyConnection,
  SpdyProtocolError,
  type SpdyStream,
  decodeHeaderBlock,
  encodeControlFrame,
  encodeDataFrame,
  encodeGoAwayPayload,
  encodeHeaderBlock,
  encodePingPayload,
  encodeRstStreamPayload,
  encodeSettingsPayload,
  encodeStreamHeadersPayload,
  encodeSynStreamPayload,
  encodeWindowUpdatePayload,
  parseGoAwayPayload,
  parsePingPayload,
  parseRstStreamPayload,
  parseSettingsPayload,
  parseStreamHeadersPayload,
  parseSynStreamPayload,
  parseWindowUpdatePayload,
  type RawFrame,
} from '../../src/cri/streaming/spdy';

test('SPDY/3 dictionary matches the published 1423 bytes', () => {
  assert.equal(SPDY3_HEADER_DICTIONARY.length, 1423);
  assert.equal(
    createHash('sha256').update(SPDY3_HEADER_DICTIONARY).digest('hex'),
    '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02',
  );
});

test('control and data frames encode to the SPDY/3 layout and parse back', () => {
  const ping = encodeControlFrame(FrameType.PING, 0, encodePingPayload(7));
  assert.deepEqual([...ping.subarray(0, 8)], [0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04]);
  const data = encodeDataFrame(5, FLAG_FIN, Buffer.from('abc'));
  assert.deepEqual([...data.subarray(0, 8)], [0, 0, 0, 5, 0x01, 0, 0, 3]);

  const frames = new FrameParser().push(Buffer.concat([ping, data]));
  assert.equal(frames.length, 2);
  const [f0, f1] = frames;
  assert.ok(f0.control && f0.type === FrameType.PING && f0.version === 3);
  assert.equal(parsePingPayload(f0.payload), 7);
  assert.ok(!f1.control && f1.streamId === 5 && f1.flags === FLAG_FIN);
  assert.equal(f1.payload.toString(), 'abc');

  const syn = parseSynStreamPayload(
    encodeSynStreamPayload({ streamId: 3, associatedStreamId: 1, priority: 5, slot: 0, headerBlock: Buffer.from([9, 9]) }),
  );
  assert.deepEqual(syn, { streamId: 3, associatedStreamId: 1, priority: 5, slot: 0, headerBlock: Buffer.from([9, 9]) });
  assert.deepEqual(parseStreamHeadersPayload(encodeStreamHeadersPayload(0x7fffffff, Buffer.from('x')), 'SYN_REPLY'), {
    streamId: 0x7fffffff,
    headerBlock: Buffer.from('x'),
  });
  assert.deepEqual(parseRstStreamPayload(encodeRstStreamPayload(9, 5)), { streamId: 9, status: 5 });
  assert.deepEqual(parseGoAwayPayload(encodeGoAwayPayload(11, 2)), { lastGoodStreamId: 11, status: 2 });
  assert.deepEqual(parseWindowUpdatePayload(encodeWindowUpdatePayload(1, 65536)), { streamId: 1, delta: 65536 });
  const settings = [{ flags: 1, id: SETTINGS_INITIAL_WINDOW_SIZE, value: 1 << 20 }, { flags: 0, id: 4, value: 100 }];
  assert.deepEqual(parseSettingsPayload(encodeSettingsPayload(settings)), settings);
});

test('frame parser reassembles frames split at every byte boundary', () => {
  const frames = Buffer.concat([
    encodeDataFrame(1, 0, Buffer.from('hello')),
    encodeControlFrame(FrameType.WINDOW_UPDATE, 0, encodeWindowUpdatePayload(1, 5)),
    encodeDataFrame(3, FLAG_FIN, Buffer.alloc(0)),
  ]);
  for (let cut = 0; cut <= frames.length; cut++) {
    const p = new FrameParser();
    const got: RawFrame[] = [...p.push(frames.subarray(0, cut)), ...p.push(frames.subarray(cut))];
    assert.equal(got.length, 3, `cut at ${cut}`);
    assert.equal(p.pending, 0);
  }
  // one byte at a time
  const p = new FrameParser();
  let n = 0;
  for (const b of frames) n += p.push(Buffer.from([b])).length;
  assert.equal(n, 3);
});

test('frame parser refuses oversized frames', () => {
  const p = new FrameParser({ maxControlPayload: 16, maxDataPayload: 32 });
  assert.throws(() => p.push(encodeControlFrame(FrameType.SETTINGS, 0, Buffer.alloc(17))), SpdyProtocolError);
  assert.throws(() => new FrameParser({ maxDataPayload: 32 }).push(encodeDataFrame(1, 0, Buffer.alloc(33)).subarray(0, 8)), SpdyProtocolError);
});

test('header blocks: encode/decode, multiple values, limits', () => {
  const block = encodeHeaderBlock({ StreamType: 'stdout', port: ['80', '81'] });
  const h = decodeHeaderBlock(block);
  assert.deepEqual([...h.entries()], [
    ['streamtype', ['stdout']],
    ['port', ['80', '81']],
  ]);
  assert.throws(() => decodeHeaderBlock(block.subarray(0, block.length - 1)), SpdyProtocolError);
  assert.throws(() => decodeHeaderBlock(Buffer.concat([block, Buffer.from([0])])), SpdyProtocolError);
  const many = Buffer.alloc(4);
  many.writeUInt32BE(100000, 0);
  assert.throws(() => decodeHeaderBlock(many), SpdyProtocolError);
});

test('header compression: one context per direction, sync-flushed, with the SPDY dictionary', async () => {
  const c = HeaderCodec.compressor();
  const d = HeaderCodec.decompressor();
  const blocks = [
    encodeHeaderBlock({ streamtype: 'error' }),
    encodeHeaderBlock({ streamtype: 'stdin' }),
    encodeHeaderBlock({}),
    encodeHeaderBlock({ streamtype: 'data', port: '8080', requestid: '0' }),
  ];
  const compressed: Buffer[] = [];
  for (const b of blocks) compressed.push(await c.process(b));
  // each block ends with a sync flush marker (empty stored block)
  for (const z of compressed) assert.deepEqual([...z.subarray(z.length - 4)], [0, 0, 0xff, 0xff]);
  // the first block can be inflated alone with the dictionary (a fresh peer context)
  const first = zlib.inflateSync(compressed[0], { dictionary: SPDY3_HEADER_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual(first, blocks[0]);
  // later blocks depend on the shared context: they decode in order
  for (let i = 0; i < blocks.length; i++) assert.deepEqual(await d.process(compressed[i]), blocks[i]);
  // the second block compresses better than the first thanks to the shared history
  assert.ok(compressed[1].length < compressed[0].length + 4);
  c.close();
  d.close();
});

test('header decompression rejects garbage and oversized blocks', async () => {
  const d = HeaderCodec.decompressor();
  await assert.rejects(d.process(Buffer.from('this is not zlib at all')));
  await assert.rejects(d.process(Buffer.from([1, 2, 3])), 'a failed context stays failed');
  d.close();
  const c = HeaderCodec.compressor();
  const small = HeaderCodec.decompressor(100);
  const big = await c.process(encodeHeaderBlock({ x: 'y'.repeat(1000) }));
  await assert.rejects(small.process(big), /larger than 100/);
  c.close();
  small.close();
});

async function connectedPair(
  onServerStream: (s: SpdyStream) => boolean,
): Promise<{ client: SpdyConnection; server: SpdyConnection; close: () => Promise<void> }> {
  let server: SpdyConnection | undefined;
  const srv = net.createServer((socket) => {
    server = new SpdyConnection(socket, { role: 'server', onStream: onServerStream });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const client = new SpdyConnection(socket, { role: 'client' });
  while (!server) await new Promise((r) => setTimeout(r, 5));
  const s = server;
  return {
    client,
    server: s,
    close: async () => {
      client.destroy();
      s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

function readAll(s: SpdyStream): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

test('streams: open, reply, data both ways, half-close, ids, ping', async (t) => {
  const accepted: SpdyStream[] = [];
  const pair = await connectedPair((s) => {
    accepted.push(s);
    s.on('data', (c: Buffer) => s.write(Buffer.from(c.toString().toUpperCase())));
    s.on('end', () => s.end());
    return true;
  });
  t.after(() => pair.close());
  const a = await pair.client.openStream({ streamType: 'stdin' });
  const b = await pair.client.openStream({ streamType: 'stdout' });
  assert.equal(a.id, 1);
  assert.equal(b.id, 3);
  const got = readAll(a);
  a.end('hello');
  assert.equal((await got).toString(), 'HELLO');
  assert.equal(accepted[0].header('streamtype'), 'stdin');
  assert.equal(accepted[1].header('StreamType'), 'stdout');
  assert.ok((await pair.client.ping()) >= 0);
  assert.ok((await pair.server.ping()) >= 0);
});

test('streams: refused streams reject, destroy sends RST, GOAWAY stops new streams', async (t) => {
  const serverStreams: SpdyStream[] = [];
  const pair = await connectedPair((s) => {
    if (s.header('streamtype') === 'bad') return false;
    serverStreams.push(s);
    return true;
  });
  t.after(() => pair.close());
  await assert.rejects(pair.client.openStream({ streamType: 'bad' }), /reset by peer \(status 3\)/);
  const s = await pair.client.openStream({ streamType: 'ok' });
  const closed = new Promise<void>((r) => serverStreams[0].once('close', () => r()));
  s.destroy();
  await closed;
  assert.equal(serverStreams[0].isReset, true);
  const goaway = new Promise<number>((r) => pair.client.once('goaway', r));
  pair.server.goAway();
  assert.equal(await goaway, 0);
  await assert.rejects(pair.client.openStream({ streamType: 'late' }), /closed/);
});

test('flow control: a peer that advertises windows is held to them, and WINDOW_UPDATEs follow reads', async (t) => {
  let serverStream: SpdyStream | undefined;
  const pair = await connectedPair((s) => {
    serverStream = s;
    return true;
  });
  t.after(() => pair.close());
  // The client shows it does flow control: initial window 64 KiB.
  pair.client.sendSettings([{ flags: 0, id: SETTINGS_INITIAL_WINDOW_SIZE, value: 65536 }]);
  const c = await pair.client.openStream({ streamType: 'stdout' });
  assert.ok(serverStream);
  const total = 300 * 1024;
  const writeDone = new Promise<void>((r) => serverStream?.end(Buffer.alloc(total, 7), () => r()));
  // the client reads nothing yet: the server stops after one window
  for (let i = 0; i < 250 && serverStream.sendWindow > 0; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(serverStream.sendWindow <= 0, `send window ${serverStream.sendWindow}`);
  assert.ok(c.readableLength <= 65536, `client holds ${c.readableLength}`);
  const data = await readAll(c);
  assert.equal(data.length, total);
  await writeDone;
});

test('flow control: a peer that never sends WINDOW_UPDATE (like moby/spdystream) is not throttled', async (t) => {
  let serverStream: SpdyStream | undefined;
  const pair = await connectedPair((s) => {
    serverStream = s;
    return true;
  });
  t.after(() => pair.close());
  const c = await pair.client.openStream({ streamType: 'stdout' });
  assert.ok(serverStream);
  const total = 200 * 1024;
  await new Promise<void>((r) => serverStream?.end(Buffer.alloc(total, 1), () => r()));
  assert.ok(serverStream.sendWindow < 0, 'went past the nominal window without waiting');
  const data = await readAll(c);
  assert.equal(data.length, total);
});

test('garbage input closes the connection without crashing (fuzz)', async () => {
  for (let i = 0; i < 40; i++) {
    const pair = await connectedPair(() => true);
    const closed = new Promise<void>((r) => (pair.server.closed ? r() : pair.server.once('close', () => r())));
    const raw = randomBytes(1 + Math.floor(Math.random() * 512));
    // Half the time start with a plausible control header so the frame bodies get exercised.
    if (i % 2 === 0) {
      raw[0] = 0x80;
      raw[1] = 0x03;
      raw[2] = 0;
      raw[3] = 1 + (i % 9);
      raw[4] = 0;
    }
    const socket = (pair.client as unknown as { socket: net.Socket }).socket;
    socket.write(raw);
    socket.end();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    await pair.close();
  }
  // Random frames on a parser alone only ever throw SpdyProtocolError.
  for (let i = 0; i < 2000; i++) {
    try {
      new FrameParser({ maxControlPayload: 4096, maxDataPayload: 4096 }).push(randomBytes(Math.floor(Math.random() * 64)));
    } catch (err) {
      assert.ok(err instanceof SpdyProtocolError);
    }
  }
});
