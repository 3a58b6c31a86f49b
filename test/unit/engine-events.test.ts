import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventJson, eventLine, followEvents, parseEventFilters, parseTimeArg, readEvents, recordEvent, type EngineEvent } from '../../src/engine/events';

function tmp(t: { after: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ev-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('parseTimeArg: unix seconds, RFC 3339 (nanoseconds kept), durations', () => {
  assert.equal(parseTimeArg('1700000000'), 1700000000n * 1_000_000_000n);
  assert.equal(parseTimeArg('1700000000.5'), 1700000000n * 1_000_000_000n + 500_000_000n);
  assert.equal(parseTimeArg('2026-11-23T08:00:00.123456789Z'), BigInt(Date.parse('2026-11-23T08:00:00.123Z')) * 1_000_000n + 456789n);
  const now = 1_800_000_000_000;
  assert.equal(parseTimeArg('10m', now), BigInt(now - 600_000) * 1_000_000n);
  assert.equal(parseTimeArg('1h30m', now), BigInt(now - 5_400_000) * 1_000_000n);
  assert.throws(() => parseTimeArg('yesterday'), /invalid time/);
});

test('record and read with a window and filters; docker line and JSON shapes', async (t) => {
  const f = path.join(tmp(t), 'engine', 'events.log');
  const t0 = new Date('2026-11-23T08:00:00Z');
  const t1 = new Date('2026-11-23T08:00:10Z');
  assert.equal(recordEvent(f, { action: 'create', id: 'c1'.padEnd(64, '0'), attributes: { name: 'web', image: 'busybox' }, time: t0 }), true);
  recordEvent(f, { action: 'start', id: 'c1'.padEnd(64, '0'), attributes: { name: 'web', image: 'busybox' }, time: t1 });
  recordEvent(f, { action: 'die', id: 'c2'.padEnd(64, '0'), attributes: { name: 'db', exitCode: 3, skipped: undefined }, time: t1 });
  recordEvent(f, { type: 'volume', action: 'create', id: 'data', time: t1 });
  fs.appendFileSync(f, 'garbage\n{"half":');
  const all = readEvents(f).events;
  assert.equal(all.length, 4);
  assert.deepEqual(all[2]!.attributes, { name: 'db', exitCode: '3' });
  const since = readEvents(f, { since: parseTimeArg('2026-11-23T08:00:05Z') }).events;
  assert.deepEqual(since.map((e) => e.action), ['start', 'die', 'create']);
  const until = readEvents(f, { until: parseTimeArg('2026-11-23T08:00:05Z') }).events;
  assert.deepEqual(until.map((e) => e.action), ['create']);
  const byName = readEvents(f, { filters: parseEventFilters(['container=web', 'event=start']) }).events;
  assert.deepEqual(byName.map((e) => e.action), ['start']);
  const vols = readEvents(f, { filters: parseEventFilters(['type=volume']) }).events;
  assert.deepEqual(vols.map((e) => e.id), ['data']);
  assert.throws(() => parseEventFilters(['bogus=1']), /invalid filter/);
  assert.equal(eventLine(all[0]!), `2026-11-23T08:00:00.000000000Z container create ${'c1'.padEnd(64, '0')} (image=busybox, name=web)`);
  const j = eventJson(all[0]!);
  assert.equal(j.status, 'create');
  assert.equal(j.from, 'busybox');
  assert.equal(j.Type, 'container');
  assert.deepEqual(j.Actor, { ID: 'c1'.padEnd(64, '0'), Attributes: { name: 'web', image: 'busybox' } });
  assert.equal(j.time, Math.floor(t0.getTime() / 1000));
});

test('followEvents: gets events appended later, including a partial line completed later', async (t) => {
  const f = path.join(tmp(t), 'events.log');
  recordEvent(f, { action: 'create', id: 'old' });
  const { offset } = readEvents(f);
  const got: EngineEvent[] = [];
  const ac = new AbortController();
  const done = followEvents(f, offset, {}, (e) => got.push(e), ac.signal, 20);
  recordEvent(f, { action: 'start', id: 'new' });
  const line = JSON.stringify({ type: 'container', action: 'die', id: 'new', attributes: {}, timeNano: '1' });
  fs.appendFileSync(f, line.slice(0, 10));
  await new Promise((r) => setTimeout(r, 80));
  fs.appendFileSync(f, line.slice(10) + '\n');
  const deadline = Date.now() + 3000;
  while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  ac.abort();
  await done;
  assert.deepEqual(got.map((e) => `${e.action}:${e.id}`), ['start:new', 'die:new']);
});

test('the journal rotates once past its size limit; reads span both files', async (t) => {
  const f = path.join(tmp(t), 'events.log');
  const { EVENTS_MAX_BYTES } = await import('../../src/engine/events');
  recordEvent(f, { action: 'create', id: 'first' });
  fs.appendFileSync(f, `${'x'.repeat(EVENTS_MAX_BYTES)}\n`); // an unreadable line pushes it past the limit
  recordEvent(f, { action: 'start', id: 'second' });
  assert.ok(fs.existsSync(`${f}.1`));
  assert.deepEqual(readEvents(f).events.map((e) => e.id), ['first', 'second']);
});
