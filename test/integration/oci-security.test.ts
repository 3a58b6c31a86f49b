/**
 * What a container sees from inside: identity, capabilities, no_new_privs, seccomp, rlimits; and the
 * security properties: mount destinations cannot escape the rootfs through symlinks, no host fd leaks
 * in beyond stdio and --preserve-fds, and the runtime binary cannot be reached for writing.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRoot } from '../helpers/bundle';
import { ociEnv } from '../helpers/oci';

const skip = !isRoot() && 'needs root';

function statusField(status: string, name: string): string {
  const line = status.split('\n').find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `${name} in /proc/self/status`);
  return line.slice(name.length + 1).trim();
}

test('hostname, uid, gid, groups, capabilities, NoNewPrivs and Seccomp seen from inside', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'hostname; cat /proc/self/status; mkdir /tmp/blocked && echo MKDIR-OK'], (spec) => {
    spec.hostname = 'berth-box';
    spec.process!.user = { uid: 1000, gid: 1001, additionalGids: [2000, 2001] };
    spec.process!.noNewPrivileges = true;
    spec.process!.capabilities = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] };
    spec.linux!.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    };
  });
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 1, `mkdir is refused by seccomp: ${r.stderr}`);
  const [hostname, ...rest] = r.stdout.split('\n');
  const status = rest.join('\n');
  assert.equal(hostname, 'berth-box');
  assert.match(statusField(status, 'Uid'), /^1000\s+1000\s+1000\s+1000$/);
  assert.match(statusField(status, 'Gid'), /^1001\s+1001\s+1001\s+1001$/);
  assert.equal(statusField(status, 'Groups'), '2000 2001');
  const capKill = (1n << 5n).toString(16).padStart(16, '0');
  assert.equal(statusField(status, 'CapBnd'), capKill);
  assert.equal(statusField(status, 'CapEff'), capKill, 'ambient CAP_KILL survives execve as uid 1000');
  assert.equal(statusField(status, 'CapAmb'), capKill);
  assert.equal(statusField(status, 'NoNewPrivs'), '1');
  assert.equal(statusField(status, 'Seccomp'), '2');
  assert.doesNotMatch(r.stdout, /MKDIR-OK/);
  assert.match(r.stderr, /Operation not permitted/);
});

test('root in the container: capabilities bounded by the config, no NoNewPrivs unless asked', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['cat', '/proc/self/status'], (spec) => {
    spec.process!.capabilities = { bounding: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'] };
    spec.process!.noNewPrivileges = false;
  });
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statusField(r.stdout, 'CapBnd'), ((1n << 0n) | (1n << 10n)).toString(16).padStart(16, '0'));
  // For uid 0 execve makes the effective set equal to the permitted set (no SECBIT_NOROOT).
  assert.equal(statusField(r.stdout, 'CapPrm'), ((1n << 0n) | (1n << 10n)).toString(16).padStart(16, '0'));
  assert.equal(statusField(r.stdout, 'CapInh'), '0000000000000000');
  assert.equal(statusField(r.stdout, 'NoNewPrivs'), '0');
});

test('rlimits are applied', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'ulimit -n; ulimit -Hn; grep "Max open files" /proc/self/limits'], (spec) => {
    spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }];
  });
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  const [soft, hard, line] = r.stdout.trim().split('\n');
  assert.equal(soft, '100');
  assert.equal(hard, '200');
  assert.match(line!, /Max open files\s+100\s+200\s+files/);
});

test('a mount destination that is a symlink pointing out of the rootfs lands inside it', { skip }, (t) => {
  const env = ociEnv(t);
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-escape-'));
  const outside2 = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-escape-'));
  t.after(() => {
    fs.rmSync(outside, { recursive: true, force: true });
    fs.rmSync(outside2, { recursive: true, force: true });
  });
  fs.symlinkSync(outside, path.join(env.bundle.rootfs, 'abs-escape'));
  fs.symlinkSync(`../../../../../../../..${outside2}`, path.join(env.bundle.rootfs, 'rel-escape'));
  env.config(['sh', '-c', 'touch /abs-escape/marker-abs /rel-escape/marker-rel && grep -c berth-escape /proc/self/mountinfo'], (spec) => {
    spec.mounts!.push({ destination: '/abs-escape', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
    spec.mounts!.push({ destination: '/rel-escape/sub', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
  });
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '2', 'both tmpfs mounts are at the escape paths as the container sees them');
  assert.deepEqual(fs.readdirSync(outside), [], 'nothing was mounted or created on the host');
  assert.deepEqual(fs.readdirSync(outside2), [], 'nothing was mounted or created on the host');
  // The mounts were made at the symlink targets resolved inside the rootfs.
  assert.ok(fs.statSync(path.join(env.bundle.rootfs, outside)).isDirectory());
  assert.ok(fs.statSync(path.join(env.bundle.rootfs, outside2, 'sub')).isDirectory());
});

test('no host fd besides stdio and --preserve-fds reaches the container', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60']);
  const kept = path.join(env.bundle.dir, 'kept');
  const leaked = path.join(env.bundle.dir, 'not-preserved');
  const fdA = fs.openSync(kept, 'w');
  const fdB = fs.openSync(leaked, 'w');
  t.after(() => {
    fs.closeSync(fdA);
    fs.closeSync(fdB);
  });
  const r = env.oci(['run', '-d', '--preserve-fds', '1', '--bundle', env.bundle.dir, env.id], { extraFds: [fdA, fdB] });
  assert.equal(r.code, 0, r.stderr);
  const pid = env.state()!.pid;
  const fds = fs.readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
  assert.deepEqual(fds, [0, 1, 2, 3]);
  assert.equal(fs.readlinkSync(`/proc/${pid}/fd/3`), kept);
  const pidFile = path.join(env.bundle.dir, 'exec.pid');
  const e = env.oci(['exec', '-d', '--pid-file', pidFile, env.id, 'sleep', '30'], { extraFds: [fdA, fdB] });
  assert.equal(e.code, 0, e.stderr);
  const epid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.deepEqual(fs.readdirSync(`/proc/${epid}/fd`).map(Number).sort((a, b) => a - b), [0, 1, 2], 'exec without --preserve-fds');
});

test('the runtime binary cannot be opened for writing from inside the container', { skip }, (t) => {
  const env = ociEnv(t);
  const onDisk = path.resolve(__dirname, '../../../native/build/berth-init');
  const before = crypto.createHash('sha256').update(fs.readFileSync(onDisk)).digest('hex');
  // No pid namespace and CAP_SYS_PTRACE: the executor (the container's parent in the foreground) is
  // visible and ptrace-accessible, so only the runtime's own protection stands in the way.
  env.config(
    ['sh', '-c', 'p=$PPID; echo "exe=$(readlink /proc/$p/exe)"; if echo x >> /proc/$p/exe; then echo WROTE; else echo DENIED; fi; if echo x >> /proc/self/exe; then echo WROTE-SELF; fi; true'],
    (spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'pid');
      for (const set of ['bounding', 'effective', 'permitted'] as const) spec.process!.capabilities![set] = ['CAP_SYS_PTRACE', 'CAP_DAC_OVERRIDE', 'CAP_KILL'];
    },
  );
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /DENIED/);
  assert.doesNotMatch(r.stdout, /WROTE/);
  const exe = /exe=(.*)/.exec(r.stdout)?.[1] ?? '';
  assert.notEqual(exe, onDisk, 'the executor does not run from the on-disk binary');
  const after = crypto.createHash('sha256').update(fs.readFileSync(onDisk)).digest('hex');
  assert.equal(after, before);
});
