import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BerthError } from '../../src/runtime/errors';
import { canonical, familiar, familiarName, manifestReference, parseReference, withDigest, withTag } from '../../src/image/ref';

const D = 'sha256:' + 'ab'.repeat(32);

test('normalises docker-style references', () => {
  const cases: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['user/app:v1', 'docker.io/user/app:v1', 'user/app:v1'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    ['quay.io/coreos/etcd', 'quay.io/coreos/etcd:latest', 'quay.io/coreos/etcd:latest'],
    ['localhost/foo', 'localhost/foo:latest', 'localhost/foo:latest'],
    ['localhost:5000/foo/bar:tag', 'localhost:5000/foo/bar:tag', 'localhost:5000/foo/bar:tag'],
    ['127.0.0.1:5000/e2e-test-images/busybox:1.29-2', '127.0.0.1:5000/e2e-test-images/busybox:1.29-2', '127.0.0.1:5000/e2e-test-images/busybox:1.29-2'],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
    ['[::1]:5000/foo', '[::1]:5000/foo:latest', '[::1]:5000/foo:latest'],
    ['Example.COM/foo', 'Example.COM/foo:latest', 'Example.COM/foo:latest'],
    ['a.b-c.d/x__y/z.w-v---u:T_a-g.1', 'a.b-c.d/x__y/z.w-v---u:T_a-g.1', 'a.b-c.d/x__y/z.w-v---u:T_a-g.1'],
    ['host:1/x', 'host:1/x:latest', 'host:1/x:latest'],
  ];
  for (const [input, canon, fam] of cases) {
    const r = parseReference(input);
    assert.equal(canonical(r), canon, input);
    assert.equal(familiar(r), fam, input);
  }
});

test('digests and name:tag@digest', () => {
  const r = parseReference(`busybox@${D}`);
  assert.equal(r.tag, undefined);
  assert.equal(r.digest, D);
  assert.equal(canonical(r), `docker.io/library/busybox@${D}`);
  assert.equal(familiar(r), `busybox@${D}`);
  assert.equal(manifestReference(r), D);
  const r2 = parseReference(`127.0.0.1:5000/a/b:v2@${D}`);
  assert.deepEqual(r2, { domain: '127.0.0.1:5000', path: 'a/b', tag: 'v2', digest: D });
  assert.equal(manifestReference(r2), D);
  assert.equal(canonical(r2), `127.0.0.1:5000/a/b:v2@${D}`);
  assert.equal(manifestReference(parseReference('x:y')), 'y');
});

test('helpers', () => {
  const r = parseReference('localhost:5000/x/y:1');
  assert.equal(familiarName(r), 'localhost:5000/x/y');
  assert.equal(familiarName(parseReference('busybox')), 'busybox');
  assert.equal(canonical(withTag(r, '2')), 'localhost:5000/x/y:2');
  assert.equal(canonical(withDigest(r, D)), `localhost:5000/x/y@${D}`);
});

test('domain detection: first component with "." or ":" or localhost', () => {
  assert.equal(parseReference('foo/bar').domain, 'docker.io');
  assert.equal(parseReference('foo.com/bar').domain, 'foo.com');
  assert.equal(parseReference('foo:80/bar').domain, 'foo:80');
  assert.equal(parseReference('localhost/bar').domain, 'localhost');
  assert.equal(parseReference('localhostx/bar').domain, 'docker.io');
  // "localhost:5000" alone is the repository docker.io/library/localhost with tag 5000
  assert.equal(canonical(parseReference('localhost:5000')), 'docker.io/library/localhost:5000');
});

test('invalid references get INVALID_ARGUMENT with a reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    [' busybox', /whitespace/],
    ['bus box', /whitespace/],
    ['Busybox', /lowercase/],
    ['Foo/bar', /lowercase/],
    ['quay.io/Foo/bar', /lowercase/],
    ['busybox:', /empty tag/],
    ['busybox:-x', /invalid tag/],
    ['busybox:.x', /invalid tag/],
    ['busybox:a/b', /./],
    ['busybox:' + 'a'.repeat(129), /longer than 128/],
    ['busybox@sha256:abc', /digest/],
    ['busybox@sha256:' + 'AB'.repeat(32), /lowercase hex/],
    ['busybox@md5:' + 'ab'.repeat(16), /unsupported digest algorithm/],
    ['busybox@', /digest/],
    ['a@b@c', /./],
    ['foo//bar', /empty path component/],
    ['foo/bar/', /empty path component/],
    ['/foo', /./],
    ['foo/-bar', /invalid path component/],
    ['foo/bar_', /invalid path component/],
    ['foo/a___b', /invalid path component/],
    ['foo/a..b', /invalid path component/],
    ['-host.com/foo', /invalid path component|invalid registry domain/],
    ['host.com:99999/foo', /invalid registry domain/],
    ['host.com:/foo', /invalid registry domain/],
    ['host_x.com/foo', /invalid registry domain/],
    ['ab'.repeat(32), /image ID/],
    ['quay.io/' + 'a/'.repeat(130) + 'b', /longer than 255/],
    ['quay.io/', /empty repository path/],
    [':tag', /empty repository name/],
  ];
  for (const [input, re] of cases) {
    assert.throws(
      () => parseReference(input),
      (err: unknown) => {
        assert.ok(err instanceof BerthError, `${input}: ${String(err)}`);
        assert.equal(err.code, 'INVALID_ARGUMENT', input);
        assert.match(err.message, re, input);
        return true;
      },
      input,
    );
  }
});

test('a name of exactly 255 characters is accepted', () => {
  const path = 'a'.repeat(255 - 'quay.io/'.length);
  assert.equal(parseReference(`quay.io/${path}`).path, path);
  assert.throws(() => parseReference(`quay.io/${path}a`), /longer than 255/);
});
