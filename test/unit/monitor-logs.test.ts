/** CRI log lines and the monitor's exit record (parsers, no process). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CriLogAssembler, parseCriLog, parseCriLogLine, parseRfc3339Nano } from '../../src/monitor/cri-log';
import { parseExitFile } from '../../src/monitor/exit-file';
import { BerthError } from '../../src/runtime/errors';

test('full and partial lines, both streams, messages with spaces and empty ones', () => {
  const f = parseCriLogLine('2026-11-23T06:10:38.633089277Z stdout F hello  world\n');
  assert.ok(f);
  assert.equal(f.stream, 'stdout');
  assert.equal(f.partial, false);
  assert.equal(f.message.toString(), 'hello  world');
  assert.equal(f.time, '2026-11-23T06:10:38.633089277Z');
  const p = parseCriLogLine(Buffer.from('2026-11-23T06:10:38.1Z stderr P part'));
  assert.ok(p);
  assert.equal(p.stream, 'stderr');
  assert.equal(p.partial, true);
  assert.equal(p.message.toString(), 'part');
  assert.equal(parseCriLogLine('2026-11-23T06:10:38Z stdout F ')?.message.length, 0);
  assert.equal(parseCriLogLine('2026-11-23T06:10:38Z stdout F')?.message.length, 0);
  assert.equal(parseCriLogLine('2026-11-23T06:10:38Z stdout F a\r')?.message.toString(), 'a\r');
});

test('malformed lines are null', () => {
  for (const l of [
    '',
    'garbage',
    '2026-11-23 stdout F x',
    '2026-13-23T06:10:38Z stdout F x',
    '2026-11-23T06:10:38Z stdin F x',
    '2026-11-23T06:10:38Z stdout X x',
    '2026-11-23T06:10:38Z stdout Fx',
    '2026-11-23T06:10:38.1234567890Z stdout F x',
  ]) {
    assert.equal(parseCriLogLine(l), null, l);
  }
});

test('RFC3339Nano to ns, with zones and short fractions', () => {
  assert.equal(parseRfc3339Nano('1970-01-01T00:00:01.000000002Z'), 1_000_000_002n);
  assert.equal(parseRfc3339Nano('1970-01-01T00:00:01.5Z'), 1_500_000_000n);
  assert.equal(parseRfc3339Nano('1970-01-01T01:00:00+01:00'), 0n);
  assert.equal(parseRfc3339Nano('1970-01-01T00:00:00-00:30'), 1_800_000_000_000n);
  assert.equal(parseRfc3339Nano('nope'), null);
});

test('the assembler joins P pieces per stream, interleaved, and flushes unterminated output', () => {
  const log = Buffer.from(
    [
      '2026-01-01T00:00:00.1Z stdout P aaa',
      '2026-01-01T00:00:00.2Z stderr F err line',
      '2026-01-01T00:00:00.3Z stdout P bbb',
      '2026-01-01T00:00:00.4Z stdout F ccc',
      'not a log line',
      '2026-01-01T00:00:00.5Z stderr P tail',
      '',
    ].join('\n'),
  );
  const entries = parseCriLog(log);
  assert.deepEqual(
    entries.map((e) => [e.stream, e.message.toString(), e.time, e.unterminated]),
    [
      ['stderr', 'err line', '2026-01-01T00:00:00.2Z', false],
      ['stdout', 'aaabbbccc', '2026-01-01T00:00:00.1Z', false],
      ['stderr', 'tail', '2026-01-01T00:00:00.5Z', true],
    ],
  );
  const asm = new CriLogAssembler();
  assert.equal(asm.flush().length, 0);
});

test('exit file: exited, signalled, create failed; bad shapes throw', () => {
  const e = parseExitFile('{"pid":12,"exitCode":7,"signal":null,"coreDumped":false,"exitedAt":"2026-11-23T06:10:38.633266189Z","createFailed":false}\n');
  assert.deepEqual(e, { pid: 12, exitCode: 7, signal: null, coreDumped: false, exitedAt: '2026-11-23T06:10:38.633266189Z', createFailed: false });
  const k = parseExitFile('{"pid":13,"exitCode":137,"signal":"SIGKILL","coreDumped":false,"exitedAt":"2026-11-23T06:10:38Z","createFailed":false}');
  assert.equal(k.signal, 'SIGKILL');
  assert.equal(k.exitCode, 137);
  assert.equal(parseExitFile('{"pid":1,"exitCode":1,"signal":null,"coreDumped":false,"exitedAt":"2026-11-23T06:10:38Z","createFailed":true}').createFailed, true);
  for (const bad of [
    'not json',
    '[]',
    '{"pid":1}',
    '{"pid":1,"exitCode":"7","signal":null,"coreDumped":false,"exitedAt":"2026-11-23T06:10:38Z","createFailed":false}',
    '{"pid":1,"exitCode":7,"signal":"KILL","coreDumped":false,"exitedAt":"2026-11-23T06:10:38Z","createFailed":false}',
    '{"pid":1,"exitCode":7,"signal":null,"coreDumped":false,"exitedAt":"yesterday","createFailed":false}',
    '{"pid":1,"exitCode":-1,"signal":null,"coreDumped":false,"exitedAt":"2026-11-23T06:10:38Z","createFailed":false}',
  ]) {
    assert.throws(() => parseExitFile(bad), BerthError, bad);
  }
});

test('random input never throws; well-formed random lines round-trip', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 2000; i++) {
    const junk = Buffer.from(Array.from({ length: rnd(80) }, () => rnd(256)));
    const r = parseCriLogLine(junk);
    if (r !== null) assert.ok(r.stream === 'stdout' || r.stream === 'stderr');
    const msg = Buffer.from(Array.from({ length: rnd(50) }, () => rnd(256)).filter((b) => b !== 0x0a));
    const stream = rnd(2) ? 'stdout' : 'stderr';
    const tag = rnd(2) ? 'P' : 'F';
    const line = Buffer.concat([Buffer.from(`2026-11-23T06:10:38.${String(rnd(1e9)).padStart(9, '0')}Z ${stream} ${tag} `), msg]);
    const p = parseCriLogLine(line);
    assert.ok(p);
    assert.equal(p.stream, stream);
    assert.equal(p.partial, tag === 'P');
    assert.deepEqual(p.message, msg);
  }
});
