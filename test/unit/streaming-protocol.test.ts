import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResizeQueue, encodeOutcome, expectedStreamTypes } from '../../src/cri/streaming/remotecommand';
import { parsePort, portPrefix } from '../../src/cri/streaming/portforward';
import { PORTFORWARD_WS_PROTOCOLS, REMOTECOMMAND_WS_PROTOCOLS, chooseSubprotocol, chooseTunnelProtocol } from '../../src/cri/streaming/websocket';
import type { TerminalSize } from '../../src/cri/streaming/types';

test('error stream outcome: metav1.Status from v4, text before', () => {
  assert.deepEqual(JSON.parse(String(encodeOutcome(4, { kind: 'exit', exitCode: 0 }))), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
  });
  const failed = JSON.parse(String(encodeOutcome(5, { kind: 'exit', exitCode: 137 })));
  assert.equal(failed.status, 'Failure');
  assert.equal(failed.reason, 'NonZeroExitCode');
  assert.deepEqual(failed.details.causes, [{ reason: 'ExitCode', message: '137' }]);
  // client-go parses the code as uint8
  const wide = JSON.parse(String(encodeOutcome(4, { kind: 'exit', exitCode: 256 + 3 })));
  assert.equal(wide.details.causes[0].message, '3');
  const err = JSON.parse(String(encodeOutcome(4, { kind: 'error', message: 'no such container' })));
  assert.deepEqual([err.status, err.reason, err.message], ['Failure', 'InternalError', 'no such container']);
  assert.equal(encodeOutcome(2, { kind: 'exit', exitCode: 0 }), null);
  assert.match(String(encodeOutcome(3, { kind: 'exit', exitCode: 2 })), /exit status 2/);
  assert.equal(String(encodeOutcome(1, { kind: 'error', message: 'boom' })), 'boom');
});

test('expected streams follow the request and the protocol version', () => {
  assert.deepEqual(expectedStreamTypes(4, { stdin: false, stdout: true, stderr: true, tty: false }), ['error', 'stdout', 'stderr']);
  assert.deepEqual(expectedStreamTypes(4, { stdin: true, stdout: true, stderr: true, tty: true }), ['error', 'stdin', 'stdout', 'resize']);
  assert.deepEqual(expectedStreamTypes(2, { stdin: true, stdout: true, stderr: false, tty: true }), ['error', 'stdin', 'stdout']);
});

test('resize queue: JSON objects in any chunking, bad ones ignored, late listeners get the last size', async () => {
  const q = new ResizeQueue();
  const got: TerminalSize[] = [];
  q.onResize((s) => got.push(s));
  const text = '{"Width":80,"Height":24}\n{"Width":100,"Height":30}{"Width":-1,"Height":5}\nnot json{"Height":7,"Width":9}';
  for (const ch of text) q.feed(Buffer.from(ch));
  assert.deepEqual(got, [
    { width: 80, height: 24 },
    { width: 100, height: 30 },
    { width: 9, height: 7 },
  ]);
  let late: TerminalSize | null = null;
  q.onResize((s) => (late = s));
  assert.deepEqual(late, { width: 9, height: 7 }, 'replayed synchronously');
  const fresh = new ResizeQueue();
  const t0 = Date.now();
  await fresh.waitFirst(50);
  assert.ok(Date.now() - t0 >= 40);
  const waiting = fresh.waitFirst(10_000);
  fresh.feed(Buffer.from('{"Width":1,"Height":2}'));
  await waiting;
  assert.deepEqual(fresh.current, { width: 1, height: 2 });
  // garbage without braces does not grow without bound
  for (let i = 0; i < 100; i++) fresh.feed(Buffer.from('{'.padEnd(1000, 'x')));
  assert.deepEqual(fresh.current, { width: 1, height: 2 });
});

test('websocket subprotocols: client order, none offered, unsupported, tunnel', () => {
  assert.equal(chooseSubprotocol(['v4.channel.k8s.io', 'v5.channel.k8s.io'], REMOTECOMMAND_WS_PROTOCOLS)?.name, 'v4.channel.k8s.io');
  assert.equal(chooseSubprotocol(['x', 'v5.channel.k8s.io'], REMOTECOMMAND_WS_PROTOCOLS)?.version, 5);
  assert.equal(chooseSubprotocol(['base64.channel.k8s.io'], REMOTECOMMAND_WS_PROTOCOLS)?.base64, true);
  assert.equal(chooseSubprotocol([], REMOTECOMMAND_WS_PROTOCOLS)?.name, '');
  assert.equal(chooseSubprotocol(['v9.channel.k8s.io'], REMOTECOMMAND_WS_PROTOCOLS), undefined);
  assert.equal(chooseSubprotocol(['v5.channel.k8s.io'], PORTFORWARD_WS_PROTOCOLS), undefined);
  assert.equal(chooseTunnelProtocol(['SPDY/3.1+portforward.k8s.io'], ['portforward.k8s.io']), 'SPDY/3.1+portforward.k8s.io');
  assert.equal(chooseTunnelProtocol(['SPDY/3.1+v4.channel.k8s.io'], ['portforward.k8s.io']), undefined);
});

test('ports: parsing and the websocket prefix', () => {
  assert.equal(parsePort('8080'), 8080);
  for (const bad of [undefined, '', '0', '65536', '-1', '80a', ' 80', '123456']) assert.equal(parsePort(bad), undefined, String(bad));
  assert.deepEqual([...portPrefix(443)], [0xbb, 0x01]);
});
