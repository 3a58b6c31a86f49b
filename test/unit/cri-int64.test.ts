import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ConfigError } from '../../src/runtime/errors';
import { int64ToBigInt, int64ToNumber, unixNanos } from '../../src/cri/int64';

test('int64ToNumber accepts safe integers and names the field otherwise', () => {
  assert.equal(int64ToNumber('0', 'x'), 0);
  assert.equal(int64ToNumber('-1', 'x'), -1);
  assert.equal(int64ToNumber('9007199254740991', 'x'), 9007199254740991);
  assert.equal(int64ToNumber(42, 'x'), 42);
  assert.throws(() => int64ToNumber('9223372036854775807', 'config.linux.resources.memory_limit_in_bytes'), (e) => e instanceof ConfigError && e.path === 'config.linux.resources.memory_limit_in_bytes');
  assert.throws(() => int64ToNumber('abc', 'timeout'), ConfigError);
});

test('int64ToBigInt is exact over the int64 range', () => {
  assert.equal(int64ToBigInt('9223372036854775807', 'x'), 9223372036854775807n);
  assert.equal(int64ToBigInt('-9223372036854775808', 'x'), -9223372036854775808n);
  assert.throws(() => int64ToBigInt('1.5', 'x'), ConfigError);
});

test('unixNanos scales milliseconds to nanoseconds exactly', () => {
  assert.equal(unixNanos(1700000000123), '1700000000123000000');
  assert.equal(unixNanos(new Date(0)), '0');
  const now = BigInt(unixNanos());
  assert.ok(now > 1_600_000_000_000_000_000n);
});
