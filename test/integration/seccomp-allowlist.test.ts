/**
 * An old allow-list profile (default action ERRNO/EPERM) that lacks newer syscalls the executor's last
 * steps could need (faccessat2 for a PATH search, close_range), while naming syscalls newer than
 * those (landlock_*), so the ENOSYS guard does not cover them: the container must still start, with
 * args[0] found on PATH, as root and as another user, with and without noNewPrivileges. This is the
 * shape of the runtime-tools validation suite's default profile. Cleanup through ociEnv's t.after.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSeccompProfile } from '../../src/runtime/seccomp/default-profile';
import type { LinuxSeccomp } from '../../src/runtime/seccomp/spec';
import { isRoot } from '../helpers/bundle';
import { ociEnv } from '../helpers/oci';

const skip = !isRoot() ? 'needs root' : process.arch !== 'x64' ? 'x86_64 syscall numbers' : false;

// x86_64 434..441: pidfd_open, clone3, close_range, openat2, pidfd_getfd, faccessat2, process_madvise, epoll_pwait2
const MISSING = new Set(['pidfd_open', 'clone3', 'close_range', 'openat2', 'pidfd_getfd', 'faccessat2', 'process_madvise', 'epoll_pwait2']);

function oldAllowList(caps: string[]): LinuxSeccomp {
  const p = defaultSeccompProfile(caps);
  const syscalls = (p.syscalls ?? [])
    .map((r) => ({ ...r, names: r.names.filter((n) => !MISSING.has(n)) }))
    .filter((r) => r.names.length > 0);
  syscalls.push({ names: ['landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self'], action: 'SCMP_ACT_ALLOW' });
  return { ...p, syscalls };
}

function run(t: Parameters<typeof ociEnv>[0], opts: { uid: number; noNewPrivileges: boolean }): string {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'grep -E "^(Seccomp|NoNewPrivs|Uid):" /proc/self/status; echo fds: $(ls /proc/self/fd)'], (spec) => {
    if (!spec.process || !spec.linux) throw new Error('bundle config lacks process or linux');
    spec.process.user = { uid: opts.uid, gid: opts.uid };
    spec.process.noNewPrivileges = opts.noNewPrivileges;
    spec.linux.seccomp = oldAllowList(spec.process.capabilities?.bounding ?? []);
  });
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, `run: ${r.stderr}`);
  return r.stdout;
}

for (const uid of [0, 1000]) {
  for (const noNewPrivileges of [false, true]) {
    test(`old allow-list profile: PATH lookup and start (uid ${uid}, noNewPrivileges ${noNewPrivileges})`, { skip }, (t) => {
      const out = run(t, { uid, noNewPrivileges });
      assert.match(out, /^Seccomp:\s+2$/m, out);
      assert.match(out, new RegExp(`^NoNewPrivs:\\s+${noNewPrivileges ? 1 : 0}$`, 'm'), out);
      assert.match(out, new RegExp(`^Uid:\\s+${uid}\\s`, 'm'), out);
      // stdio and ls's own directory fd (3): nothing of the executor's reaches the process
      assert.match(out, /^fds: 0 1 2 3$/m, out);
    });
  }
}
