/**
 * End to end for the plan compiler: config.json -> validateConfig -> compilePlan -> berth-init, in a
 * real container over a busybox rootfs. Checks that what the compiler resolves (mounts, devices, links,
 * masked and read-only paths, caps, rlimits, sysctls, id maps) is what the process sees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeBundle, isRoot } from '../helpers/bundle';
import { runPlan } from '../helpers/init-plan';
import { defaultInitPath } from '../../src/runtime/init/launch';
import { compilePlan } from '../../src/runtime/plan/compile';
import { defaultSpec } from '../../src/runtime/spec/default';
import { validateConfig } from '../../src/runtime/spec/validate';

const skip = !isRoot() ? 'needs root' : !fs.existsSync(defaultInitPath()) ? 'native/build/berth-init not built' : false;

type Json = Record<string, unknown>;

function configFor(raw: Json, script: string): Json {
  const p = raw.process as Json;
  p.terminal = false;
  p.args = ['sh', '-c', script];
  return raw;
}

async function run(raw: Json, t: { after(fn: () => void): void }, prepare?: (dir: string) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  const b = makeBundle('berth-compile-it-');
  t.after(() => b.remove());
  prepare?.(b.dir);
  b.writeConfig(raw);
  const spec = validateConfig(JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')));
  const plan = compilePlan(spec, {
    bundle: b.dir,
    execFifo: '',
    consoleSocket: '',
    preserveFds: 0,
    noPivot: false,
    noNewKeyring: false,
    foreground: true,
  });
  return runPlan(plan);
}

test('the default spec runs as compiled', { skip, timeout: 60_000 }, async (t) => {
  const script = [
    'echo host=$(hostname)',
    'echo nofile=$(ulimit -n)',
    'grep CapBnd /proc/self/status',
    '[ -c /dev/null ] && echo null=chr',
    '[ -c /dev/urandom ] && echo urandom=chr',
    'echo fd=$(readlink /dev/fd) ptmx=$(readlink /dev/ptmx)',
    'touch /rootfile 2>/dev/null || echo root=ro',
    'touch /sys/x 2>/dev/null || echo sys=ro',
    'echo kcore=$(cat /proc/kcore | wc -c)',
    '(echo x > /proc/sys/kernel/domainname) 2>/dev/null || echo procsys=ro',
    '[ -d /sys/fs/cgroup/memory ] && echo cgroup=memory',
    'grep -q " /dev/shm " /proc/mounts && echo shm=yes',
    'grep -q " /dev/mqueue " /proc/mounts && echo mqueue=yes',
    'echo pid=$$',
  ].join('; ');
  const r = await run(configFor(defaultSpec() as unknown as Json, script), t);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  for (const want of [
    'host=berth',
    'nofile=1024',
    'CapBnd:\t0000000020000420',
    'null=chr',
    'urandom=chr',
    'fd=/proc/self/fd ptmx=pts/ptmx',
    'root=ro',
    'sys=ro',
    'kcore=0',
    'procsys=ro',
    'cgroup=memory',
    'shm=yes',
    'mqueue=yes',
    'pid=1',
  ]) {
    assert.ok(out.includes(want), `missing ${JSON.stringify(want)} in:\n${out}\n${r.stderr}`);
  }
});

test('a user-namespace config: ids mapped, devices bound, bind mounts applied', { skip, timeout: 60_000 }, async (t) => {
  const raw = defaultSpec({ rootless: true, uid: 0, gid: 0 }) as unknown as Json;
  const linux = raw.linux as Json;
  linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  linux.namespaces = [...(linux.namespaces as Json[]), { type: 'network' }];
  (raw.mounts as Json[]).push({ destination: '/data', type: 'none', source: 'data', options: ['rbind', 'ro'] });
  const script = [
    'echo uid=$(id -u) map=$(cat /proc/self/uid_map | tr -s " " | sed "s/^ //")',
    '[ -c /dev/null ] && echo null=chr',
    'cat /data/hello',
    'touch /data/x 2>/dev/null || echo data=ro',
  ].join('; ');
  const r = await run(configFor(raw, script), t, (dir) => {
    fs.chmodSync(dir, 0o755); // the mapped root (host uid 100000) must reach the rootfs
    fs.mkdirSync(path.join(dir, 'data'));
    fs.mkdirSync(path.join(dir, 'rootfs', 'data')); // unmapped host root owns the rootfs: no mkdir inside
    fs.writeFileSync(path.join(dir, 'data', 'hello'), 'hello=world\n');
  });
  assert.equal(r.code, 0, r.stderr);
  for (const want of ['uid=0 map=0 100000 65536', 'null=chr', 'hello=world', 'data=ro']) {
    assert.ok(r.stdout.includes(want), `missing ${JSON.stringify(want)} in:\n${r.stdout}\n${r.stderr}`);
  }
});

// The runtime-spec's usual config has /proc/sys in readonlyPaths *and* sysctls: sysctls must be written
// before the read-only paths are applied (as runc does).
test('sysctls are applied in a config whose readonlyPaths include /proc/sys', { skip, timeout: 60_000 }, async (t) => {
  const raw = defaultSpec() as unknown as Json;
  (raw.linux as Json).sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmni': '1234' };
  const r = await run(configFor(raw, 'echo fwd=$(cat /proc/sys/net/ipv4/ip_forward) shmmni=$(cat /proc/sys/kernel/shmmni)'), t);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes('fwd=1 shmmni=1234'), r.stdout);
});
