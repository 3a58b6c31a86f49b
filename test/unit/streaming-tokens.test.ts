import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenStore } from '../../src/cri/streaming/tokens';
import { BerthError } from '../../src/runtime/errors';

test('tokens are 32 random bytes, url-safe, distinct', () => {
  const store = new TokenStore<number>({ ttlMs: 1000 });
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const t = store.issue(i);
    assert.match(t, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(t, 'base64url').length, 32);
    seen.add(t);
  }
  assert.equal(seen.size, 200);
});

test('a token works once', () => {
  const store = new TokenStore<string>({ ttlMs: 1000 });
  const t = store.issue('exec-1');
  assert.equal(store.consume(t), 'exec-1');
  assert.equal(store.consume(t), undefined);
  assert.equal(store.consume('not-a-token'), undefined);
  assert.equal(store.consume(`${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`), undefined);
});

test('tokens expire', () => {
  let now = 1_000_000;
  const store = new TokenStore<string>({ ttlMs: 60_000, now: () => now });
  const a = store.issue('a');
  now += 30_000;
  const b = store.issue('b');
  now += 30_000; // a is exactly at its expiry
  assert.equal(store.consume(a), undefined);
  assert.equal(store.size, 1);
  assert.equal(store.consume(b), 'b');
  const c = store.issue('c');
  now += 60_001;
  store.sweep();
  assert.equal(store.size, 0);
  assert.equal(store.consume(c), undefined);
});

test('the store is bounded', () => {
  let now = 0;
  const store = new TokenStore<number>({ ttlMs: 10, maxTokens: 3, now: () => now });
  store.issue(1);
  store.issue(2);
  store.issue(3);
  assert.throws(() => store.issue(4), (e: unknown) => e instanceof BerthError);
  now = 11; // all expired: room again
  assert.doesNotThrow(() => store.issue(5));
  assert.throws(() => new TokenStore({ ttlMs: 0 }), BerthError);
});
