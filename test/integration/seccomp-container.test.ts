/**
 * The default seccomp profile in a real container (berth-oci run, busybox bundle, root): the filter is
 * active, ordinary work runs, and user-namespace creation (allowed by capabilities alone) is refused
 * by the filter unless CAP_SYS_ADMIN is in the bounding set. Cleanup through ociEnv's t.after.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSeccompProfile } from '../../src/runtime/seccomp/default-profile';
import { isRoot } from '../helpers/bundle';
import { ociEnv } from '../helpers/oci';

const skip = !isRoot() ? 'needs root' : process.arch !== 'x64' && process.arch !== 'arm64' ? 'no syscall table' : false;

const SCRIPT = [
  'grep ^Seccomp: /proc/self/status',
  'unshare -U true 2>/dev/null; echo unshare=$?',
  'linux32 true; echo linux32=$?',
  'echo hi > /tmp/f && cat /tmp/f',
].join('; ');

function run(t: Parameters<typeof ociEnv>[0], seccomp: 'default' | 'default+admin' | 'none'): string {
  const env = ociEnv(t);
  env.config(['sh', '-c', SCRIPT], (spec) => {
    const caps = spec.process?.capabilities?.bounding ?? [];
    if (seccomp === 'none') delete spec.linux?.seccomp;
    else if (spec.linux) spec.linux.seccomp = defaultSeccompProfile(seccomp === 'default' ? caps : [...caps, 'CAP_SYS_ADMIN']);
  });
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, `run: ${r.stderr}`);
  return r.stdout;
}

test('default seccomp profile inside a container', { skip }, (t) => {
  const out = run(t, 'default');
  assert.match(out, /^Seccomp:\s+2$/m, out);
  assert.match(out, /^unshare=1$/m, 'unshare(CLONE_NEWUSER) refused by the filter');
  assert.match(out, /^linux32=0$/m, 'personality(PER_LINUX32) allowed');
  assert.match(out, /^hi$/m);
});

test('without the filter, or with CAP_SYS_ADMIN, the same container may create a user namespace', { skip }, (t) => {
  const none = run(t, 'none');
  assert.match(none, /^Seccomp:\s+0$/m, none);
  assert.match(none, /^unshare=0$/m, 'control: capabilities alone allow unshare -U');
  const admin = run(t, 'default+admin');
  assert.match(admin, /^Seccomp:\s+2$/m);
  assert.match(admin, /^unshare=0$/m);
});
