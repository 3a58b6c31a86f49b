import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { BerthError, ConfigError, type ErrorCode } from '../../src/runtime/errors';
import { grpcStatusFor, toServiceError, unimplemented } from '../../src/cri/errors';

test('every BerthError code maps to its gRPC status', () => {
  const cases: [ErrorCode, status][] = [
    ['NOT_FOUND', status.NOT_FOUND],
    ['INVALID_CONFIG', status.INVALID_ARGUMENT],
    ['INVALID_ARGUMENT', status.INVALID_ARGUMENT],
    ['ALREADY_EXISTS', status.ALREADY_EXISTS],
    ['FAILED_PRECONDITION', status.FAILED_PRECONDITION],
    ['UNSUPPORTED', status.UNIMPLEMENTED],
    ['PERMISSION_DENIED', status.PERMISSION_DENIED],
    ['TIMEOUT', status.DEADLINE_EXCEEDED],
    ['INTERNAL', status.INTERNAL],
  ];
  for (const [code, want] of cases) {
    const got = grpcStatusFor(new BerthError(code, `msg for ${code}`));
    assert.equal(got.code, want, code);
    assert.equal(got.details, `msg for ${code}`);
  }
});

test('ConfigError becomes INVALID_ARGUMENT naming the path of the fault', () => {
  const got = grpcStatusFor(new ConfigError('config.metadata.name', 'must not be empty'));
  assert.equal(got.code, status.INVALID_ARGUMENT);
  assert.match(got.details, /^config\.metadata\.name: must not be empty$/);
});

test('errors that are not BerthError become INTERNAL with their message', () => {
  assert.deepEqual(grpcStatusFor(new Error('boom')), { code: status.INTERNAL, details: 'boom' });
  const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
  assert.deepEqual(grpcStatusFor(enoent), { code: status.INTERNAL, details: 'ENOENT: no such file' });
  assert.deepEqual(grpcStatusFor('a string'), { code: status.INTERNAL, details: 'a string' });
  assert.deepEqual(grpcStatusFor(undefined), { code: status.INTERNAL, details: 'undefined' });
});

test('toServiceError carries code, details and message', () => {
  const se = toServiceError(new BerthError('NOT_FOUND', 'container "abc" not found'));
  assert.equal(se.code, status.NOT_FOUND);
  assert.equal(se.details, 'container "abc" not found');
  assert.equal(se.message, 'container "abc" not found');
});

test('unimplemented names the method', () => {
  const u = unimplemented('/runtime.v1.RuntimeService/RunPodSandbox');
  assert.equal(u.code, status.UNIMPLEMENTED);
  assert.match(u.details, /RunPodSandbox/);
});
