import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { defaultSpec } from '../../src/runtime/spec/default';
import { validateConfig } from '../../src/runtime/spec/validate';

test('defaultSpec: sh on a terminal with the runc default capabilities and NOFILE 1024', () => {
  const s = defaultSpec();
  assert.deepEqual(s.process?.args, ['sh']);
  assert.equal(s.process?.terminal, true);
  assert.equal(s.process?.cwd, '/');
  assert.deepEqual(s.process?.user, { uid: 0, gid: 0 });
  for (const set of ['bounding', 'effective', 'permitted'] as const) {
    assert.deepEqual(s.process?.capabilities?.[set], ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
  }
  assert.deepEqual(s.process?.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
  assert.equal(s.process?.noNewPrivileges, true);
  assert.deepEqual(s.root, { path: 'rootfs', readonly: true });
  assert.deepEqual(
    s.mounts?.map((m) => [m.destination, m.type]),
    [
      ['/proc', 'proc'],
      ['/dev', 'tmpfs'],
      ['/dev/pts', 'devpts'],
      ['/dev/shm', 'tmpfs'],
      ['/dev/mqueue', 'mqueue'],
      ['/sys', 'sysfs'],
      ['/sys/fs/cgroup', 'cgroup'],
    ],
  );
  assert.deepEqual(s.linux?.namespaces?.map((n) => n.type), ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
  assert.ok(s.linux?.maskedPaths?.includes('/proc/kcore'));
  assert.ok(s.linux?.readonlyPaths?.includes('/proc/sys'));
  assert.deepEqual(s.linux?.resources?.devices, [{ allow: false, access: 'rwm' }]);
  assert.equal(s.linux?.uidMappings, undefined);
});

test('defaultSpec rootless: user namespace mapping the caller, no network namespace, /sys bound from the host', () => {
  const s = defaultSpec({ rootless: true, uid: 1234, gid: 5678 });
  const types = s.linux?.namespaces?.map((n) => n.type) ?? [];
  assert.ok(types.includes('user'));
  assert.ok(!types.includes('network'));
  assert.deepEqual(s.linux?.uidMappings, [{ containerID: 0, hostID: 1234, size: 1 }]);
  assert.deepEqual(s.linux?.gidMappings, [{ containerID: 0, hostID: 5678, size: 1 }]);
  const sys = s.mounts?.find((m) => m.destination === '/sys');
  assert.deepEqual(sys, { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
  const devpts = s.mounts?.find((m) => m.destination === '/dev/pts');
  assert.ok(!devpts?.options?.includes('gid=5'));
  assert.equal(s.linux?.resources, undefined);
  // Defaults to the calling process's ids.
  const d = defaultSpec({ rootless: true });
  assert.equal(d.linux?.uidMappings?.[0].hostID, process.getuid?.());
  validateConfig(JSON.parse(JSON.stringify(d)));
});

test('defaultSpec mounts agree with `runc spec` (when runc is installed)', (t) => {
  let runc = '';
  try {
    runc = execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim();
  } catch {
    runc = '';
  }
  if (!runc) {
    t.skip('runc not installed');
    return;
  }
  for (const rootless of [false, true]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-runc-spec-'));
    try {
      execFileSync(runc, ['spec', ...(rootless ? ['--rootless'] : []), '--bundle', dir]);
      const theirs = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { mounts: unknown[] };
      assert.deepEqual(defaultSpec({ rootless }).mounts, theirs.mounts);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});
