import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DockerConfig,
  TokenCache,
  basicAuthHeader,
  credentialChain,
  credentialsFromAuthConfig,
  normalizeAuthKey,
  parseTokenResponse,
  parseWwwAuthenticate,
  repositoryScope,
} from '../../src/image/registry/auth';

test('WWW-Authenticate: bearer with realm, service, scope', () => {
  const c = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
  assert.deepEqual(c, [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
});

test('WWW-Authenticate: scopes with commas inside quotes, escapes, spaces, unquoted values', () => {
  const c = parseWwwAuthenticate('Bearer realm="http://127.0.0.1:1/token", service=reg , scope="repository:a/b:pull,push", error="insufficient_scope", x="a\\"b"');
  assert.equal(c.length, 1);
  assert.deepEqual(c[0]!.params, {
    realm: 'http://127.0.0.1:1/token',
    service: 'reg',
    scope: 'repository:a/b:pull,push',
    error: 'insufficient_scope',
    x: 'a"b',
  });
});

test('WWW-Authenticate: basic, several challenges, case-insensitive scheme', () => {
  assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  const c = parseWwwAuthenticate('Basic realm="x", BEARER realm="https://t/token",service="s"');
  assert.deepEqual(c.map((x) => x.scheme), ['basic', 'bearer']);
  assert.equal(c[1]!.params.service, 's');
  assert.deepEqual(parseWwwAuthenticate(''), []);
});

test('CRI AuthConfig -> credentials', () => {
  assert.equal(credentialsFromAuthConfig(undefined), undefined);
  assert.equal(credentialsFromAuthConfig({}), undefined);
  assert.deepEqual(credentialsFromAuthConfig({ username: 'u', password: 'p' }), { username: 'u', password: 'p' });
  assert.deepEqual(credentialsFromAuthConfig({ auth: Buffer.from('alice:s3:cret').toString('base64') }), { username: 'alice', password: 's3:cret' });
  assert.deepEqual(credentialsFromAuthConfig({ identity_token: 'refresh' }), { identityToken: 'refresh' });
  assert.deepEqual(credentialsFromAuthConfig({ registryToken: 'tok' }), { registryToken: 'tok' });
  assert.throws(() => credentialsFromAuthConfig({ auth: Buffer.from('nocolon').toString('base64') }), /base64/);
});

test('docker config.json: auths keys normalised, auth/username/password/identitytoken', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dockercfg-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
        '127.0.0.1:5000': { username: 'u', password: 'p' },
        'http://quay.io/v2/': { identitytoken: 'it' },
        'empty.example': {},
      },
      credsStore: 'desktop',
    }),
  );
  const cfg = DockerConfig.load(file);
  assert.deepEqual(cfg.lookup('docker.io'), { username: 'hub', password: 'pw' });
  assert.deepEqual(cfg.lookup('registry-1.docker.io'), { username: 'hub', password: 'pw' });
  assert.deepEqual(cfg.lookup('127.0.0.1:5000'), { username: 'u', password: 'p' });
  assert.deepEqual(cfg.lookup('quay.io'), { identityToken: 'it' });
  assert.equal(cfg.lookup('empty.example'), undefined);
  assert.equal(cfg.lookup('127.0.0.1:5001'), undefined);
  // a missing file is an empty config; DOCKER_CONFIG picks the directory
  assert.equal(DockerConfig.load(path.join(dir, 'nope.json')).lookup('docker.io'), undefined);
  const old = process.env.DOCKER_CONFIG;
  process.env.DOCKER_CONFIG = dir;
  try {
    assert.deepEqual(DockerConfig.load().lookup('127.0.0.1:5000'), { username: 'u', password: 'p' });
  } finally {
    if (old === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = old;
  }
  fs.writeFileSync(file, '{not json');
  assert.throws(() => DockerConfig.load(file), /not JSON/);
});

test('credential chain: caller first, then config by host, then by registry', () => {
  const cfg = new DockerConfig({ auths: { 'mirror:5000': { username: 'm', password: '1' }, 'docker.io': { username: 'd', password: '2' } } });
  const chain = credentialChain({ dockerConfig: cfg });
  assert.deepEqual(chain('docker.io', 'mirror:5000'), { username: 'm', password: '1' });
  assert.deepEqual(chain('docker.io', 'registry-1.docker.io'), { username: 'd', password: '2' });
  assert.equal(chain('quay.io', 'quay.io'), undefined);
  const withCaller = credentialChain({ caller: { username: 'c' }, dockerConfig: cfg });
  assert.deepEqual(withCaller('docker.io', 'mirror:5000'), { username: 'c' });
});

test('misc: key normalisation, basic header, scopes, token responses, token cache expiry', () => {
  assert.equal(normalizeAuthKey('https://Registry.Example.com:443/v2/'), 'registry.example.com:443');
  assert.equal(normalizeAuthKey('index.docker.io'), 'docker.io');
  assert.equal(basicAuthHeader({ username: 'a', password: 'b' }), `Basic ${Buffer.from('a:b').toString('base64')}`);
  assert.equal(basicAuthHeader({ identityToken: 'x' }), undefined);
  assert.equal(repositoryScope('library/busybox', ['pull', 'push']), 'repository:library/busybox:pull,push');
  assert.deepEqual(parseTokenResponse('{"token":"t","expires_in":300}'), { token: 't', expiresIn: 300 });
  assert.deepEqual(parseTokenResponse('{"access_token":"a"}'), { token: 'a' });
  assert.throws(() => parseTokenResponse('{}'), /no token/);
  assert.throws(() => parseTokenResponse('<html>'), /not JSON/);
  const cache = new TokenCache();
  const k = TokenCache.key('realm', 'svc', 'scope');
  cache.set(k, 'tok', 100, 1000);
  assert.equal(cache.get(k, 1000), 'tok');
  assert.equal(cache.get(k, 1000 + 89_000), 'tok');
  assert.equal(cache.get(k, 1000 + 91_000), undefined);
  assert.equal(cache.get(TokenCache.key('realm', 'svc', 'other'), 1000), undefined);
});
