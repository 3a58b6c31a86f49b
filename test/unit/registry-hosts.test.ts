import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../src/runtime/errors';
import { defaultHosts, parseHostsToml, resolveRegistryHosts } from '../../src/image/registry/hosts';

function tmpdir(t: { after: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hosts-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('defaults: docker.io -> registry-1.docker.io over https; loopback gets an http fallback', () => {
  const [d] = defaultHosts('docker.io');
  assert.equal(d!.host, 'registry-1.docker.io');
  assert.equal(d!.scheme, 'https');
  assert.equal(d!.path, '/v2');
  assert.deepEqual(d!.capabilities, ['pull', 'resolve', 'push']);
  assert.equal(d!.httpFallback, false);
  assert.equal(defaultHosts('quay.io')[0]!.host, 'quay.io');
  assert.equal(defaultHosts('127.0.0.1:5000')[0]!.httpFallback, true);
  assert.equal(defaultHosts('localhost:5000')[0]!.httpFallback, true);
  assert.equal(defaultHosts('[::1]:5000')[0]!.httpFallback, true);
  assert.equal(resolveRegistryHosts('gcr.io').length, 1);
});

test('mirrors in file order, then the upstream server (fallback)', () => {
  const hosts = parseHostsToml(
    `
[host."https://mirror-a.example:8443"]
  capabilities = ["pull", "resolve"]
[host."http://127.0.0.1:5000"]
  capabilities = ["pull"]
  skip_verify = true
`,
    'docker.io',
    '/nonexistent',
  );
  assert.deepEqual(
    hosts.map((h) => `${h.scheme}://${h.host}${h.path} ${h.capabilities.join(',')} ${h.mirror}`),
    [
      'https://mirror-a.example:8443/v2 pull,resolve true',
      'http://127.0.0.1:5000/v2 pull true',
      'https://registry-1.docker.io/v2 pull,resolve,push false',
    ],
  );
  assert.equal(hosts[1]!.skipVerify, true);
});

test('server replaces the upstream: no fallback to the real host (the lab setup)', (t) => {
  const dir = tmpdir(t);
  for (const reg of ['registry.k8s.io', 'gcr.io', 'public.ecr.aws']) {
    fs.mkdirSync(path.join(dir, reg));
    fs.writeFileSync(
      path.join(dir, reg, 'hosts.toml'),
      'server = "http://127.0.0.1:5000"\n\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n',
    );
  }
  for (const reg of ['registry.k8s.io', 'gcr.io', 'public.ecr.aws']) {
    const hs = resolveRegistryHosts(reg, { configDir: dir });
    assert.ok(hs.every((h) => h.host === '127.0.0.1:5000' && h.scheme === 'http'), reg);
    assert.equal(resolveRegistryHosts(reg, { configDir: dir }, 'pull').length, 2);
    assert.ok(!hs.some((h) => h.host === reg));
  }
  // a registry without a directory keeps its defaults
  assert.equal(resolveRegistryHosts('quay.io', { configDir: dir })[0]!.host, 'quay.io');
});

test('_default applies to registries without their own directory', (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, '_default'));
  fs.writeFileSync(path.join(dir, '_default', 'hosts.toml'), '[host."http://10.0.0.1:5000"]\n');
  fs.mkdirSync(path.join(dir, 'quay.io'));
  fs.writeFileSync(path.join(dir, 'quay.io', 'hosts.toml'), 'server = "https://quay.io"\n');
  assert.deepEqual(resolveRegistryHosts('example.com', { configDir: dir }).map((h) => h.host), ['10.0.0.1:5000', 'example.com']);
  assert.deepEqual(resolveRegistryHosts('quay.io', { configDir: dir }).map((h) => h.host), ['quay.io']);
});

test('override_path, headers, ca files and capabilities filter', (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'ca.pem'), 'PEM');
  const hosts = parseHostsToml(
    `
server = "https://registry.example.com"
capabilities = ["pull", "resolve"]
ca = "ca.pem"
[header]
  x-a = "1"
  x-b = ["2", "3"]
[host."https://proxy.example.com/custom/api"]
  override_path = true
[host."https://proxy2.example.com/prefix"]
`,
    'registry.example.com',
    dir,
  );
  assert.equal(hosts[0]!.path, '/custom/api');
  assert.equal(hosts[1]!.path, '/prefix/v2');
  const server = hosts[2]!;
  assert.deepEqual(server.capabilities, ['pull', 'resolve']);
  assert.deepEqual(server.headers, { 'x-a': '1', 'x-b': '2, 3' });
  assert.equal(server.ca[0]!.toString(), 'PEM');
});

test('bad hosts.toml: errors name the key', () => {
  const bad: Array<[string, RegExp]> = [
    ['server = 1', /server/],
    ['server = "ftp://x"', /scheme/],
    ['capabilities = ["fetch"]', /capabilities\[0\]/],
    ['skip_verify = "yes"', /skip_verify/],
    ['bogus = 1', /bogus: unknown key/],
    ['[host."http://x"]\n  typo = 1', /host."http:\/\/x".typo/],
    ['ca = "missing.pem"', /cannot read/],
    ['this is not toml', /TOML/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseHostsToml(text, 'r.example', '/nonexistent'), (err: unknown) => {
      assert.ok(err instanceof ConfigError, text);
      assert.match(err.message, re, text);
      return true;
    });
  }
});

test('resolveRegistryHosts names the file in errors', (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'bad.example'));
  fs.writeFileSync(path.join(dir, 'bad.example', 'hosts.toml'), 'skip_verify = 3\n');
  assert.throws(() => resolveRegistryHosts('bad.example', { configDir: dir }), /bad\.example\/hosts\.toml: skip_verify/);
});
