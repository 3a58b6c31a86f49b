/**
 * Invalid config.json documents: each fails `create` with a message naming the JSON path of the
 * fault, a non-zero exit status, and leaves nothing behind (state dir, cgroup, mount).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot } from '../helpers/bundle';
import { leftoverCgroups, leftoverMounts, ociEnv } from '../helpers/oci';
import type { Spec } from '../../src/runtime/spec/types';

const skip = !isRoot() && 'needs root';

type Mutable = Record<string, unknown>;
const cases: { name: string; path: RegExp; edit: (s: Spec & Mutable) => void }[] = [
  { name: 'unsupported major version', path: /ociVersion/, edit: (s) => void (s.ociVersion = '2.0.0') },
  { name: 'empty args', path: /process\.args/, edit: (s) => void (s.process!.args = []) },
  { name: 'relative cwd', path: /process\.cwd/, edit: (s) => void (s.process!.cwd = 'relative/dir') },
  { name: 'missing root.path', path: /root\.path/, edit: (s) => void (s.root = {} as Spec['root']) },
  { name: 'relative mount destination', path: /mounts\[1\]\.destination/, edit: (s) => void (s.mounts![1]!.destination = 'dev') },
  { name: 'unknown namespace type', path: /linux\.namespaces\[0\]\.type/, edit: (s) => void ((s.linux!.namespaces![0] as unknown as Mutable).type = 'bogus') },
  { name: 'unknown rlimit', path: /process\.rlimits\[0\]\.type/, edit: (s) => void (s.process!.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]) },
  { name: 'unknown capability', path: /process\.capabilities\.bounding\[1\]/, edit: (s) => void (s.process!.capabilities!.bounding = ['CAP_KILL', 'CAP_BOGUS']) },
  { name: 'unknown seccomp action', path: /linux\.seccomp\.defaultAction/, edit: (s) => void (s.linux!.seccomp = { defaultAction: 'SCMP_ACT_BOGUS' as 'SCMP_ACT_LOG' }) },
  { name: 'relative hook path', path: /hooks\.prestart\[0\]\.path/, edit: (s) => void (s.hooks = { prestart: [{ path: 'bin/hook' }] }) },
  { name: 'negative uid', path: /process\.user\.uid/, edit: (s) => void (s.process!.user.uid = -1) },
  { name: 'memory limit of the wrong type', path: /linux\.resources\.memory\.limit/, edit: (s) => void (s.linux!.resources = { memory: { limit: 'big' as unknown as number } }) },
  { name: 'hostname without a UTS namespace', path: /hostname/, edit: (s) => {
    s.hostname = 'x';
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts');
  } },
  { name: 'unknown device type', path: /linux\.devices\[0\]\.type/, edit: (s) => void (s.linux!.devices = [{ path: '/dev/x', type: 'q' as 'c', major: 1, minor: 1 }]) },
  { name: 'args not strings', path: /process\.args/, edit: (s) => void ((s.process as unknown as Mutable).args = ['sh', 5]) },
];

for (const c of cases) {
  test(`invalid config: ${c.name}`, { skip }, (t) => {
    const env = ociEnv(t);
    env.config(['true'], (s) => c.edit(s as Spec & Mutable));
    const r = env.oci(['create', '--bundle', env.bundle.dir, env.id]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, c.path, r.stderr);
    assert.equal(fs.existsSync(path.join(env.root, env.id)), false, 'no state dir');
    assert.deepEqual(leftoverCgroups(env.id), [], 'no cgroup');
    assert.deepEqual(leftoverMounts(env.bundle.dir), [], 'no mount');
    assert.equal(env.state(), null);
  });
}

test('invalid config: not JSON at all', { skip }, (t) => {
  const env = ociEnv(t);
  fs.writeFileSync(path.join(env.bundle.dir, 'config.json'), '{"ociVersion": "1.0.0",');
  const r = env.oci(['create', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config\.json/);
  assert.equal(fs.existsSync(path.join(env.root, env.id)), false);
});

test('a bundle without config.json and a bad container id fail cleanly', { skip }, (t) => {
  const env = ociEnv(t);
  const r = env.oci(['create', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config\.json/);
  env.config(['true']);
  const bad = env.oci(['create', '--bundle', env.bundle.dir, '../escape']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid container id/);
  assert.equal(fs.existsSync(path.join(path.dirname(env.root), 'escape')), false);
});

test('a failure inside the executor (missing binary) leaves nothing behind', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['/no/such/binary']);
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no\/such\/binary|No such file/);
  assert.equal(fs.existsSync(path.join(env.root, env.id)), false);
  assert.deepEqual(leftoverCgroups(env.id), []);
  assert.deepEqual(leftoverMounts(env.bundle.dir), []);
});

test('spec writes a valid config.json and refuses to overwrite it', { skip }, (t) => {
  const env = ociEnv(t);
  fs.rmSync(path.join(env.bundle.dir, 'config.json'), { force: true });
  assert.equal(env.oci(['spec', '--bundle', env.bundle.dir]).code, 0);
  const spec = JSON.parse(fs.readFileSync(path.join(env.bundle.dir, 'config.json'), 'utf8')) as Spec;
  assert.equal(spec.root.path, 'rootfs');
  const again = env.oci(['spec', '--bundle', env.bundle.dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists/);
  const rl = env.oci(['spec', '--rootless', '--bundle', path.join(env.bundle.dir, 'rootfs', 'tmp')]);
  assert.equal(rl.code, 0);
  const rspec = JSON.parse(fs.readFileSync(path.join(env.bundle.dir, 'rootfs', 'tmp', 'config.json'), 'utf8')) as Spec;
  assert.ok(rspec.linux?.namespaces?.some((n) => n.type === 'user'));
});

test('features describes what is implemented', { skip }, (t) => {
  const env = ociEnv(t);
  const r = env.oci(['features']);
  assert.equal(r.code, 0);
  const f = JSON.parse(r.stdout) as {
    ociVersionMax: string;
    hooks: string[];
    mountOptions: string[];
    linux: { namespaces: string[]; capabilities: string[]; seccomp: { enabled: boolean; actions: string[]; archs: string[] } };
  };
  assert.equal(f.ociVersionMax, '1.2.0');
  assert.ok(f.hooks.includes('createContainer'));
  assert.ok(f.mountOptions.includes('rbind') && !f.mountOptions.includes('idmap'));
  assert.ok(f.linux.namespaces.includes('cgroup'));
  assert.ok(f.linux.capabilities.includes('CAP_SYS_ADMIN'));
  assert.ok(f.linux.seccomp.enabled && f.linux.seccomp.actions.includes('SCMP_ACT_ERRNO'));
  assert.ok(f.linux.seccomp.archs.includes('SCMP_ARCH_X86_64'));
});

test('usage errors: unknown command, unknown flag, missing id', { skip }, (t) => {
  const env = ociEnv(t);
  const u = env.oci(['frobnicate']);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /no such command: frobnicate/);
  const f = env.oci(['state', '--frob', env.id]);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /flag provided but not defined: --frob/);
  const m = env.oci(['start']);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /requires exactly 1 argument/);
  const n = env.oci(['state', 'berth-test-nonexistent']);
  assert.equal(n.code, 1);
  assert.match(n.stderr, /does not exist/);
  const h = env.oci(['run', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--detach, -d/);
  const v = env.oci(['--version']);
  assert.match(v.stdout, /^berth-oci version /);
});
