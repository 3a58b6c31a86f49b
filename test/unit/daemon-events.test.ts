/** RuntimeEvents (src/daemon/events.ts): fan-out, unsubscribe, a throwing listener isolated. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { RuntimeEvents, type RuntimeEvent } from '../../src/daemon/events';

test('RuntimeEvents: every listener gets each event in order; unsubscribe; errors isolated', () => {
  const errors: unknown[] = [];
  const ev = new RuntimeEvents((e) => errors.push(e));
  const a: RuntimeEvent[] = [];
  const b: RuntimeEvent[] = [];
  const offA = ev.subscribe((e) => a.push(e));
  ev.subscribe(() => {
    throw new Error('bad listener');
  });
  ev.subscribe((e) => b.push(e));
  assert.equal(ev.listenerCount, 3);
  const first = ev.emit('CONTAINER_CREATED_EVENT', 'c1', 'p1');
  ev.emit('CONTAINER_STARTED_EVENT', 'p1', 'p1', true);
  offA();
  ev.emit('CONTAINER_DELETED_EVENT', 'c1', 'p1');
  assert.deepEqual(a.map((e) => e.type), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT']);
  assert.deepEqual(b.map((e) => [e.type, e.containerId, e.sandbox]), [
    ['CONTAINER_CREATED_EVENT', 'c1', false],
    ['CONTAINER_STARTED_EVENT', 'p1', true],
    ['CONTAINER_DELETED_EVENT', 'c1', false],
  ]);
  assert.equal(errors.length, 3);
  assert.match(first.at, /^\d+$/);
  assert.ok(BigInt(first.at) > 0n);
});
