/**
 * berth-init end to end: hand-built plans over a busybox bundle, launched in foreground mode (the
 * executor reaps the container and exits with its status). The container's mounts live in its own
 * mount namespace and vanish with it; each test removes its bundle and kills what it started.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { launch } from '../../src/runtime/init/launch';
import { BerthError } from '../../src/runtime/errors';
import { makeBundle, isRoot, type Bundle } from '../helpers/bundle';
import {
  ALL_CAPS,
  basePlan,
  CLONE_NEWNET,
  CLONE_NEWUSER,
  MS_BIND,
  MS_NOSUID,
  MS_REC,
  mount,
  runPlan,
  S_IFCHR,
} from '../helpers/init-plan';

const skip = !isRoot() && 'needs root';

function bundle(t: TestContext): Bundle {
  const b = makeBundle('berth-init-');
  t.after(() => b.remove());
  return b;
}

/** Whether pid is a live process (a zombie counts as dead). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

function field(status: string, name: string): string {
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1] ?? '';
}

test('hostname in a new uts ns, pid 1 in a new pid ns, proc and tmpfs mounts', { skip }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'hostname; echo pid=$$; cat /proc/self/mountinfo']);
  plan.hostname = 'berth-uts';
  plan.mounts.push(mount('/tmp', 'tmpfs', 'tmpfs', MS_NOSUID, 'size=1m'));
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'berth-uts');
  assert.equal(lines[1], 'pid=1');
  assert.match(r.stdout, / \/proc rw,nosuid,nodev,noexec.* - proc proc /);
  assert.match(r.stdout, / \/dev rw,nosuid.* - tmpfs tmpfs /);
  assert.match(r.stdout, / \/tmp rw,nosuid.* - tmpfs tmpfs .*size=1024k/);
  assert.match(r.stdout, / \/dev\/pts .* - devpts devpts /);
  // the old root is gone: no host mounts leak into the container's table
  assert.doesNotMatch(r.stdout, / \/work /);
  assert.notEqual(execFileSync('hostname', { encoding: 'utf8' }).trim(), 'berth-uts');
});

test('a mount destination behind a symlink pointing out of the rootfs lands inside it', { skip }, async (t) => {
  const b = bundle(t);
  const outside = path.join(b.dir, 'outside'); // exists on the host, not in the rootfs
  fs.mkdirSync(outside);
  fs.mkdirSync(path.join(b.rootfs, 'mnt'));
  fs.symlinkSync(outside, path.join(b.rootfs, 'mnt/escape'));
  fs.symlinkSync('/etc', path.join(b.rootfs, 'mnt/etc-link'));
  const plan = basePlan(b.rootfs, ['sh', '-c', `echo hi > /mnt/escape/f && cat /proc/self/mountinfo`]);
  plan.mounts.push(mount('/mnt/escape', 'tmpfs', 'tmpfs', 0, 'size=1m'));
  plan.mounts.push({ ...mount('/mnt/etc-link/hosts', '', '/etc/hostname', MS_BIND), destType: 'file' });
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  // the tmpfs is at <rootfs><outside>, seen from inside as <outside>
  assert.match(r.stdout, new RegExp(` ${outside} rw.* - tmpfs tmpfs `));
  assert.ok(fs.statSync(path.join(b.rootfs, outside)).isDirectory(), 'created inside the rootfs');
  assert.deepEqual(fs.readdirSync(outside), [], 'nothing written to the host directory');
  // /mnt/etc-link -> /etc resolves to the rootfs's /etc, where hosts was created
  assert.match(r.stdout, / \/etc\/hosts rw/);
  assert.ok(fs.existsSync(path.join(b.rootfs, 'etc/hosts')));
});

test('capabilities, no_new_privs, rlimits, uid/gid/groups, umask', { skip }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'cat /proc/self/status; cat /proc/self/limits; umask']);
  const caps = (1n << 0n) | (1n << 5n) | (1n << 10n); // chown, kill, net_bind_service
  plan.process.capabilities = { bounding: caps | (1n << 1n), effective: caps, permitted: caps, inheritable: caps, ambient: 1n << 10n };
  plan.process.noNewPrivileges = true;
  plan.process.user = { uid: 1000, gid: 1001, additionalGids: [10, 20], umask: 0o027 };
  plan.process.rlimits = [{ resource: 7, soft: 100n, hard: 200n }];
  let r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  const hex = (v: bigint) => v.toString(16).padStart(16, '0');
  // a non-root process keeps only its ambient capabilities across execve
  assert.equal(field(r.stdout, 'CapEff'), hex(1n << 10n));
  assert.equal(field(r.stdout, 'CapPrm'), hex(1n << 10n));
  assert.equal(field(r.stdout, 'CapInh'), hex(caps));
  assert.equal(field(r.stdout, 'CapBnd'), hex(caps | 2n));
  assert.equal(field(r.stdout, 'CapAmb'), hex(1n << 10n));
  assert.equal(field(r.stdout, 'NoNewPrivs'), '1');
  assert.equal(field(r.stdout, 'Uid'), '1000\t1000\t1000\t1000');
  assert.equal(field(r.stdout, 'Gid'), '1001\t1001\t1001\t1001');
  assert.equal(field(r.stdout, 'Groups').trim(), '10 20');
  assert.match(r.stdout, /^Max open files\s+100\s+200\s+files/m);
  assert.match(r.stdout, /^0027$/m);
  // root gets its bounding set; no_new_privs off
  plan.process.user = { uid: 0, gid: 0, additionalGids: [], umask: -1 };
  plan.process.noNewPrivileges = false;
  plan.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: 0n, ambient: 0n };
  r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(field(r.stdout, 'CapEff'), hex(caps));
  assert.equal(field(r.stdout, 'CapBnd'), hex(caps));
  assert.equal(field(r.stdout, 'NoNewPrivs'), '0');
  assert.equal(field(r.stdout, 'Groups').trim(), '');
  assert.match(r.stdout, /^0022$/m);
});

test('no leaked fds; preserved fds become 3..; the sync fd is gone after execve', { skip }, async (t) => {
  const b = bundle(t);
  const file = path.join(b.dir, 'preserved');
  fs.writeFileSync(file, 'x');
  const fd = fs.openSync(file, 'r');
  t.after(() => fs.closeSync(fd));
  let plan = basePlan(b.rootfs, ['ls', '/proc/self/fd']);
  let r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split(/\s+/), ['0', '1', '2', '3']); // 3: ls's own directory fd
  plan = basePlan(b.rootfs, ['sh', '-c', 'ls /proc/self/fd; readlink /proc/self/fd/3']);
  plan.preserveFds = 1;
  r = await runPlan(plan, { preserveFds: [fd] });
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.trim().split('\n');
  assert.deepEqual(out.slice(0, -1), ['0', '1', '2', '3', '4']);
  assert.equal(out.at(-1), file);
});

test('create mode: READY, then the process waits on the exec fifo until it is opened', { skip }, async (t) => {
  const b = bundle(t);
  const fifo = path.join(b.dir, 'exec.fifo');
  execFileSync('mkfifo', ['-m', '622', fifo]);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'echo started']);
  plan.execFifo = fifo;
  plan.process.user = { uid: 1000, gid: 1000, additionalGids: [], umask: -1 };
  plan.process.capabilities = { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
  const launched = await launch({ plan, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (alive(launched.pid)) process.kill(launched.pid, 'SIGKILL');
  });
  let out = '';
  launched.executor.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(alive(launched.pid), 'waiting on the fifo');
  assert.equal(out, '');
  // still berth-init (from its sealed memfd): its exe cannot be opened for writing
  assert.throws(() => fs.openSync(`/proc/${launched.pid}/exe`, 'r+'), /ETXTBSY|EPERM|EACCES/);
  assert.match(fs.readlinkSync(`/proc/${launched.pid}/exe`), /memfd:berth-init/);
  const fh = await fs.promises.open(fifo, 'r');
  const data = await fh.readFile();
  await fh.close();
  assert.equal(data.toString(), '0');
  assert.equal(await launched.exited, 0);
  assert.equal(out, 'started\n');
});

test('the executor runs from a sealed memfd: /proc/PID/exe cannot be opened for writing', { skip }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'trap "exit 7" USR1; sleep 10 & wait']);
  const launched = await launch({ plan, stdio: ['ignore', 'ignore', 'ignore'] });
  t.after(async () => {
    if (alive(launched.pid)) process.kill(launched.pid, 'SIGKILL');
    await launched.exited;
  });
  const exe = `/proc/${launched.executor.pid}/exe`;
  assert.match(fs.readlinkSync(exe), /memfd:berth-init/);
  assert.throws(() => fs.openSync(exe, 'r+'), /ETXTBSY|EPERM|EACCES/);
  assert.throws(() => fs.openSync(exe, 'w'), /ETXTBSY|EPERM|EACCES/);
  // foreground: the executor forwards signals to the container process (pid 1 here: it needs a handler)
  await new Promise((r) => setTimeout(r, 100));
  process.kill(launched.executor.pid!, 'SIGUSR1');
  assert.equal(await launched.exited, 7);
});

test('errors name the step and path; nothing is left running', { skip }, async (t) => {
  const b = bundle(t);
  let plan = basePlan(b.rootfs, ['true']);
  plan.mounts.push(mount('/bad', 'nosuchfs', 'nosuchfs', 0));
  await assert.rejects(runPlan(plan), (e: unknown) => {
    assert.ok(e instanceof BerthError);
    assert.match(e.message, /^berth-init: mount nosuchfs on \/bad: No such device$/);
    return true;
  });
  plan = basePlan(b.rootfs, ['/no/such/program']);
  await assert.rejects(runPlan(plan), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND' && /exec \/no\/such\/program/.test(e.message));
  plan = basePlan(b.rootfs, ['true']);
  plan.process.cwd = '/nonexistent';
  await assert.rejects(runPlan(plan), /chdir \/nonexistent: No such file or directory/);
  plan = basePlan(path.join(b.dir, 'missing-rootfs'), ['true']);
  await assert.rejects(runPlan(plan), /rootfs .*missing-rootfs: No such file or directory/);
  plan = basePlan(b.rootfs, ['true']);
  plan.cloneFlags &= ~0x00020000; // no CLONE_NEWNS: the host's mounts must not be touched
  await assert.rejects(runPlan(plan), /rootfs .*: setting up a rootfs needs a new or joined mount namespace/);
  // a failing onPid kills the container process it was told about
  let seen = 0;
  plan = basePlan(b.rootfs, ['true']);
  await assert.rejects(
    launch({ plan, stdio: ['ignore', 'ignore', 'ignore'], onPid: async (pid) => { seen = pid; throw new Error('cgroup placement failed'); } }),
    /cgroup placement failed/,
  );
  assert.ok(seen > 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(seen), false);
});

test('masked and read-only paths, read-only root, sysctl in a new net ns', { skip }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['sh', '-c',
    'wc -c < /proc/version; ls /proc/bus | wc -l; cat /proc/sys/net/ipv4/ip_forward; ' +
    '(echo 1 > /proc/sys/kernel/domainname) 2>&1; (touch /newfile) 2>&1; touch /tmp/ok && echo tmp-ok']);
  plan.cloneFlags |= CLONE_NEWNET;
  plan.mounts.push(mount('/tmp', 'tmpfs', 'tmpfs', 0));
  plan.maskedPaths = ['/proc/version', '/proc/bus', '/proc/does-not-exist'];
  plan.readonlyPaths = ['/proc/sys'];
  plan.sysctls = [{ path: 'net/ipv4/ip_forward', value: '1' }];
  plan.rootReadonly = true;
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.trim());
  assert.equal(lines[0], '0');
  assert.equal(lines[1], '0');
  assert.equal(lines[2], '1');
  assert.match(lines[3] ?? '', /Read-only file system/);
  assert.match(lines[4] ?? '', /Read-only file system/);
  assert.equal(lines[5], 'tmp-ok');
});

test('seccomp: filter loaded with and without no_new_privs', { skip }, async (t) => {
  const b = bundle(t);
  // ld nr; jeq mkdir -> errno; jeq mkdirat -> errno; allow; errno(EPERM)
  const insn = (code: number, jt: number, jf: number, k: number) => {
    const x = Buffer.alloc(8);
    x.writeUInt16LE(code, 0);
    x[2] = jt;
    x[3] = jf;
    x.writeUInt32LE(k >>> 0, 4);
    return x;
  };
  const program = Buffer.concat([
    insn(0x20, 0, 0, 0),
    insn(0x15, 2, 0, 83),
    insn(0x15, 1, 0, 258),
    insn(0x06, 0, 0, 0x7fff0000),
    insn(0x06, 0, 0, 0x00050000 | 1),
  ]);
  for (const nnp of [true, false]) {
    const plan = basePlan(b.rootfs, ['sh', '-c', 'mkdir /tmp/x 2>&1; grep Seccomp: /proc/self/status']);
    plan.process.noNewPrivileges = nnp;
    plan.process.seccomp = { program, flags: 0, listenerPath: '', listenerMetadata: '' };
    const r = await runPlan(plan);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Operation not permitted/, `nnp=${nnp}`);
    assert.match(r.stdout, /Seccomp:\s+2/);
  }
});

test('hooks: createContainer gets the state on stdin; startContainer runs inside; exit status 128+signal', { skip }, async (t) => {
  const b = bundle(t);
  const stateFile = path.join(b.dir, 'state.json');
  const plan = basePlan(b.rootfs, ['sh', '-c', 'cat /started; kill -9 $$']);
  plan.cloneFlags &= ~0x20000000; // not pid 1, which cannot be killed from inside its namespace
  plan.createContainerHooks = [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${stateFile}`], env: [], timeout: 5 }];
  plan.startContainerHooks = [{ path: '/bin/sh', args: ['sh', '-c', 'echo start-hook > /started'], env: [], timeout: 0 }];
  const state = JSON.stringify({ ociVersion: '1.2.0', id: 'x', status: 'creating' });
  const r = await runPlan(plan, { onPid: async () => state });
  assert.equal(fs.readFileSync(stateFile, 'utf8'), state);
  assert.equal(r.stdout, 'start-hook\n');
  assert.equal(r.code, 128 + 9);
  // a hook that fails stops the launch with its name
  const bad = basePlan(b.rootfs, ['true']);
  bad.createContainerHooks = [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'], env: [], timeout: 0 }];
  await assert.rejects(runPlan(bad), /createContainer hook 0 \(\/bin\/sh\): exit status 3/);
  const slow = basePlan(b.rootfs, ['true']);
  slow.createContainerHooks = [{ path: '/bin/sleep', args: ['sleep', '10'], env: [], timeout: 1 }];
  await assert.rejects(runPlan(slow), /createContainer hook 0 \(\/bin\/sleep\): timed out after 1s/);
});

test('terminal in foreground mode: the pty is the controlling terminal, relayed to stdout', { skip }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'tty; stty size']);
  plan.process.terminal = true;
  plan.process.consoleHeight = 30;
  plan.process.consoleWidth = 100;
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\/dev\/pts\/0\r?\n30 100\r?\n$/);
});

test('user namespace: maps written by launch, root inside, devices bind-mounted', { skip }, async (t) => {
  const b = bundle(t);
  fs.chmodSync(b.dir, 0o755); // container root is host uid 100000
  const plan = basePlan(b.rootfs, ['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; id -u; echo x > /dev/null && echo null-ok']);
  plan.cloneFlags |= CLONE_NEWUSER;
  plan.userNamespaceMapped = true;
  plan.uidMappings = [{ containerId: 0, hostId: 100000, size: 65536 }];
  plan.gidMappings = [{ containerId: 0, hostId: 100000, size: 65536 }];
  plan.devices = plan.devices.map((d) => ({ ...d, bind: true }));
  plan.process.capabilities = { bounding: ALL_CAPS, effective: ALL_CAPS, permitted: ALL_CAPS, inheritable: 0n, ambient: 0n };
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(lines, ['0 100000 65536', '0 100000 65536', '0', 'null-ok']);
});

test('exec mode: join a running container\'s namespaces; resolves at execve', { skip }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['sleep', '30']);
  plan.hostname = 'exec-target';
  const target = await launch({ plan, stdio: ['ignore', 'ignore', 'ignore'] });
  t.after(async () => {
    if (alive(target.pid)) process.kill(target.pid, 'SIGKILL');
    await target.exited;
  });
  const exec = basePlan('', ['sh', '-c', 'hostname; echo pid=$$; ls /proc/self/fd']);
  exec.mode = 'exec';
  exec.cloneFlags = 0;
  exec.mounts = [];
  exec.devices = [];
  exec.symlinks = [];
  exec.joinNamespaces = ['ipc', 'uts', 'pid', 'mnt'].map((n) => ({
    flag: { ipc: 0x08000000, uts: 0x04000000, pid: 0x20000000, mnt: 0x00020000 }[n]!,
    path: `/proc/${target.pid}/ns/${n}`,
  }));
  const r = await runPlan(exec);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'exec-target');
  assert.match(lines[1] ?? '', /^pid=\d+$/);
  assert.notEqual(lines[1], 'pid=1');
  assert.deepEqual(lines.slice(2), ['0', '1', '2', '3']);
});

test('device nodes are made with mknod, mode and owner as planned', { skip }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'stat -c "%F %a %u %g %t %T" /dev/zero /dev/sub/full']);
  plan.devices.push({ path: '/dev/sub/full', mode: S_IFCHR | 0o640, major: 1, minor: 7, uid: 5, gid: 6, bind: false });
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['character special file 666 0 0 1 5', 'character special file 640 5 6 1 7']);
  void MS_REC;
});

test('cgroup v1 mount: one read-only bind per hierarchy of the container\'s cgroup, in a cgroup ns', { skip: skip || !fs.existsSync('/sys/fs/cgroup/pids/cgroup.procs') && 'needs cgroup v1 pids' }, async (t) => {
  const b = bundle(t);
  const cg = `/sys/fs/cgroup/pids/berth-init-test-${process.pid}`;
  fs.mkdirSync(cg);
  t.after(() => fs.rmdirSync(cg));
  const plan = basePlan(b.rootfs, ['sh', '-c',
    'ls /sys/fs/cgroup; grep pids /proc/self/cgroup; cat /sys/fs/cgroup/pids/cgroup.procs | wc -l; ' +
    '(mkdir /sys/fs/cgroup/pids/x) 2>&1; grep " /sys/fs/cgroup/pids " /proc/self/mountinfo']);
  plan.cloneFlags |= 0x02000000; // CLONE_NEWCGROUP
  plan.mounts.push(mount('/sys', 'sysfs', 'sysfs', MS_NOSUID | 0x1 /* ro */));
  plan.mounts.push({ ...mount('/sys/fs/cgroup', 'cgroup', 'cgroup', MS_NOSUID | 0x1 | 0x4 | 0x8), kind: 'cgroup' });
  const r = await runPlan(plan, { onPid: async (pid) => { fs.writeFileSync(`${cg}/cgroup.procs`, String(pid)); return ''; } });
  assert.equal(r.code, 0, r.stderr);
  const names = r.stdout.split('\n');
  for (const n of ['pids', 'memory', 'cpu']) assert.ok(names.includes(n), `${n} in ${r.stdout}`);
  assert.match(r.stdout, /^\d+:pids:\/$/m); // the cgroup namespace root
  const procs = Number(/^(\d+)$/m.exec(r.stdout)?.[1]);
  assert.ok(procs >= 1 && procs < 10, `only our own processes in cgroup.procs: ${procs}`);
  assert.match(r.stdout, /Read-only file system/);
  // mountinfo shows the bind's root relative to the cgroup namespace root
  assert.match(r.stdout, / \/ \/sys\/fs\/cgroup\/pids ro,.* - cgroup cgroup /);
});

test('time ns offsets, no-pivot, personality, cpu affinity, nice', { skip }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'cut -d. -f1 /proc/uptime; uname -m; grep Cpus_allowed_list /proc/self/status; cut -d" " -f19 /proc/self/stat; ionice']);
  plan.cloneFlags |= 0x80; // CLONE_NEWTIME
  plan.timeOffsets = [{ clockId: 7, secs: 1000000n, nanosecs: 0 }]; // boottime
  plan.noPivot = true;
  plan.process.personality = 0x0008; // PER_LINUX32
  plan.process.cpuAffinityFinal = [0];
  plan.process.scheduler = { policy: 0, nice: 7, priority: 0, flags: 0n, runtime: 0n, deadline: 0n, period: 0n };
  plan.process.ioPriority = { ioClass: 2, priority: 5 };
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  const [uptime, machine, cpus, nice, ioprio] = r.stdout.trim().split('\n');
  assert.ok(Number(uptime) >= 1000000, `uptime ${uptime}`);
  assert.match(machine ?? '', /^i[3-6]86$/);
  assert.match(cpus ?? '', /Cpus_allowed_list:\s+0$/);
  assert.equal(nice, '7');
  assert.equal(ioprio, 'best-effort: prio 5');
});

test('an apparmor profile without AppArmor is a clear error', { skip: skip || fs.existsSync('/proc/self/attr/apparmor/exec') && 'AppArmor present' }, async (t) => {
  const b = bundle(t);
  const plan = basePlan(b.rootfs, ['true']);
  plan.process.apparmorProfile = 'berth-default';
  await assert.rejects(runPlan(plan), /apparmor profile berth-default: \/proc\/self\/attr\/apparmor\/exec is missing/);
});

/** A python3 unix-socket server that takes one fd by SCM_RIGHTS and reports on it (Node cannot). */
const FD_RECEIVER = `
import array, os, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 65536, 1)
print("data=" + msg.decode(), flush=True)
print("fd=" + os.readlink("/proc/self/fd/%d" % fds[0]), flush=True)
if mode == "console":
    out = b""
    while True:
        try:
            chunk = os.read(fds[0], 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    print("console=" + out.decode().replace("\\r", "").replace("\\n", "|"), flush=True)
os.close(fds[0])
`;

async function fdReceiver(t: TestContext, dir: string, mode: 'console' | 'seccomp'): Promise<{ sock: string; output: Promise<string> }> {
  const sock = path.join(dir, `${mode}.sock`);
  const child = spawn('python3', ['-c', FD_RECEIVER, sock, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  const output = new Promise<string>((resolve) => child.on('close', () => resolve(out)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('listening')) resolve();
    });
    child.on('error', reject);
  });
  return { sock, output };
}

test('console socket: the pty master is sent by SCM_RIGHTS; the process has it as its terminal', { skip: skip || !fs.existsSync('/usr/bin/python3') && 'needs python3' }, async (t) => {
  const b = bundle(t);
  const rx = await fdReceiver(t, b.dir, 'console');
  const plan = basePlan(b.rootfs, ['sh', '-c', 'tty; echo hi']);
  plan.process.terminal = true;
  plan.process.consoleSocket = rx.sock;
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  const out = await rx.output;
  assert.match(out, /^data=\/dev\/pts\/0$/m);
  assert.match(out, /^fd=\/dev\/pts\/ptmx$/m);
  assert.match(out, /^console=\/dev\/pts\/0\|hi\|/m);
});

test('seccomp notify: the listener fd goes to listenerPath with the state', { skip: skip || !fs.existsSync('/usr/bin/python3') && 'needs python3' }, async (t) => {
  const b = bundle(t);
  const rx = await fdReceiver(t, b.dir, 'seccomp');
  const insn = (code: number, jt: number, jf: number, k: number) => {
    const x = Buffer.alloc(8);
    x.writeUInt16LE(code, 0);
    x[2] = jt;
    x[3] = jf;
    x.writeUInt32LE(k >>> 0, 4);
    return x;
  };
  const program = Buffer.concat([
    insn(0x20, 0, 0, 0),
    insn(0x15, 2, 0, 83),
    insn(0x15, 1, 0, 258),
    insn(0x06, 0, 0, 0x7fff0000),
    insn(0x06, 0, 0, 0x7fc00000), // SECCOMP_RET_USER_NOTIF
  ]);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'sleep 0.5; mkdir /tmp/x 2>&1; true']);
  plan.process.noNewPrivileges = true;
  plan.process.seccomp = { program, flags: 8 /* NEW_LISTENER */, listenerPath: rx.sock, listenerMetadata: 'meta "1"' };
  const r = await runPlan(plan, { onPid: async () => '{"id":"c1"}' });
  assert.equal(r.code, 0, r.stderr);
  const out = await rx.output;
  const data = JSON.parse(/^data=(.*)$/m.exec(out)?.[1] ?? '{}') as Record<string, unknown>;
  assert.deepEqual(data.fds, ['seccompFd']);
  assert.equal(data.metadata, 'meta "1"');
  assert.deepEqual(data.state, { id: 'c1' });
  assert.equal(data.pid, r.pid);
  assert.match(out, /^fd=anon_inode:seccomp notify$/m);
  // the listener closed the fd without answering: the notified syscall fails with ENOSYS
  assert.match(r.stdout, /Function not implemented/);
});

test('recursive read-only bind (rro) and stdin relayed to the pty in foreground mode', { skip }, async (t) => {
  const b = bundle(t);
  const src = path.join(b.dir, 'data');
  fs.mkdirSync(src);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'read x; echo "got:$x"; (touch /data/f) 2>&1; grep " /data " /proc/self/mountinfo; exit 0']);
  plan.mounts.push({ ...mount('/data', '', src, MS_BIND | MS_REC), recAttrSet: 0x1 /* MOUNT_ATTR_RDONLY */, propagation: [1 << 20 /* MS_SHARED */] });
  plan.process.terminal = true;
  const launched = await launch({ plan, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  launched.executor.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  launched.executor.stdin?.write('hello\n');
  assert.equal(await launched.exited, 0);
  await new Promise((r) => setImmediate(r));
  assert.match(out, /got:hello/);
  assert.match(out, /Read-only file system/);
  assert.match(out, / \/data ro,.* shared:\d+ /);
  assert.deepEqual(fs.readdirSync(src), []);
});

test('rootfs propagation as asked (rshared) and default (rslave: private host mounts stay private); the host mount table is untouched', { skip }, async (t) => {
  const b = bundle(t);
  const before = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  const plan = basePlan(b.rootfs, ['sh', '-c', "awk '$5 == \"/\"' /proc/self/mountinfo"]);
  let r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d+ \d+ \S+ \S+\/rootfs \/ /); // the root mount line is there
  assert.doesNotMatch(r.stdout, /shared:|master:/);
  plan.rootfsPropagation = MS_REC | (1 << 20); // MS_SHARED
  r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /shared:\d+/);
  // other test files mount and unmount things meanwhile: look only at this test's own directories
  assert.deepEqual(newMountPoints(before, [b.dir]), []);
  assert.doesNotMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(b.rootfs));
});

test('rootfs propagation runbindable: binds still work, / ends unbindable', { skip }, async (t) => {
  const b = bundle(t);
  const src = path.join(b.dir, 'data');
  fs.mkdirSync(src);
  const plan = basePlan(b.rootfs, ['sh', '-c', "awk '$5 == \"/\" || $5 == \"/data\"' /proc/self/mountinfo"]);
  plan.mounts.push(mount('/data', '', src, MS_BIND | MS_REC));
  plan.rootfsPropagation = MS_REC | (1 << 17); // MS_UNBINDABLE
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d+ \d+ \S+ \S+\/rootfs \/ .* unbindable /m);
  assert.match(r.stdout, / \/data .* unbindable /);
});

test('exec into a user-namespaced container as a non-root user', { skip }, async (t) => {
  const b = bundle(t);
  fs.chmodSync(b.dir, 0o755);
  const plan = basePlan(b.rootfs, ['sleep', '30']);
  plan.cloneFlags |= CLONE_NEWUSER;
  plan.userNamespaceMapped = true;
  plan.uidMappings = [{ containerId: 0, hostId: 100000, size: 65536 }];
  plan.gidMappings = [{ containerId: 0, hostId: 100000, size: 65536 }];
  plan.devices = plan.devices.map((d) => ({ ...d, bind: true }));
  const target = await launch({ plan, stdio: ['ignore', 'ignore', 'ignore'] });
  t.after(async () => {
    if (alive(target.pid)) process.kill(target.pid, 'SIGKILL');
    await target.exited;
  });
  const exec = basePlan('', ['sh', '-c', 'id -u; id -g; cat /proc/self/uid_map']);
  exec.mode = 'exec';
  exec.cloneFlags = 0;
  exec.mounts = [];
  exec.devices = [];
  exec.symlinks = [];
  exec.joinNamespaces = (['mnt', 'pid', 'user', 'ipc', 'uts'] as const).map((n) => ({
    flag: { ipc: 0x08000000, uts: 0x04000000, pid: 0x20000000, mnt: 0x00020000, user: CLONE_NEWUSER }[n],
    path: `/proc/${target.pid}/ns/${n}`,
  }));
  exec.process.user = { uid: 1000, gid: 1000, additionalGids: [], umask: -1 };
  exec.process.capabilities = { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
  exec.process.noNewPrivileges = true;
  const r = await runPlan(exec);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(lines, ['1000', '1000', '0 100000 65536']);
  // seen from the host, the exec'd process ran as 101000
  assert.equal(fs.statSync(`/proc/${target.pid}`).uid, 100000);
});

const MS_SHARED = 1 << 20;
const MS_SLAVE = 1 << 19;

/** Host mountinfo mount points (field 5, still escaped). */
function hostMountPoints(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4] ?? '');
}

/**
 * Mount points on the host now that were not in `before` (mountinfo lines), at or below one of `dirs`.
 * Test files run concurrently and mount things of their own, so only this test's directories count.
 */
function newMountPoints(before: string[], dirs: string[], now = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)): string[] {
  return now
    .filter((l) => !before.includes(l))
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => dirs.some((d) => m === d || m.startsWith(d + '/')));
}

/** Makes dir a shared mount point on the host (mount --bind dir dir; mount --make-shared dir). */
function makeShared(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['--bind', dir, dir]);
  execFileSync('mount', ['--make-shared', dir]);
}

/** Whether anything is mounted at or below dir on the host. */
function mountedBelow(dir: string): boolean {
  return hostMountPoints().some((m) => m === dir || m.startsWith(dir + '/'));
}

/** A bundle whose dir is a shared mount point (so the rootfs's parent mount is shared), and a
 * separate host dir made a shared mount point; on exit everything mounted at or below either is
 * unmounted, then both are removed. */
function sharedBundle(t: TestContext): { b: Bundle; host: string } {
  const b = makeBundle('berth-init-');
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-init-host-'));
  t.after(() => {
    for (const dir of [host, b.dir])
      for (let i = 0; i < 5 && mountedBelow(dir); i++) execFileSync('umount', ['-R', '-l', dir]);
    b.remove();
    fs.rmSync(host, { recursive: true, force: true });
  });
  makeShared(b.dir);
  makeShared(host);
  return { b, host };
}

/** Launches plan with piped stdio; resolves once the container printed `marker`, then `go()` lets it finish. */
async function launchUntil(plan: Parameters<typeof runPlan>[0], marker: string) {
  const launched = await launch({ plan, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let wake: () => void = () => {};
  const seen = new Promise<void>((resolve) => (wake = resolve));
  launched.executor.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
    if (stdout.includes(marker)) wake();
  });
  launched.executor.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = launched.exited.then((code) => {
    wake();
    return code;
  });
  await seen;
  return {
    out: () => stdout,
    err: () => stderr,
    async finish(): Promise<number> {
      launched.executor.stdin?.end('go\n');
      const code = await exited;
      await new Promise((r) => setImmediate(r));
      return code;
    },
  };
}

test('rshared: a mount made in the container under an rshared bind reaches the host; rootfs mounts never do', { skip }, async (t) => {
  const { b, host } = sharedBundle(t);
  fs.mkdirSync(path.join(host, 'sub'));
  const before = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  const plan = basePlan(b.rootfs, ['sh', '-c', [
    'mount -t tmpfs tmpfs /mnt/sub && echo hi > /mnt/sub/f',
    "awk '$5 == \"/\" || $5 == \"/mnt\"' /proc/self/mountinfo",
    'echo up; read x; exit 0',
  ].join('; ')]);
  plan.rootfsPropagation = MS_REC | MS_SHARED;
  plan.mounts.push({ ...mount('/mnt', '', host, MS_BIND | MS_REC), propagation: [MS_REC | MS_SHARED] });
  const run = await launchUntil(plan, 'up\n');
  let code = -1;
  try {
    assert.match(run.out(), /up\n/, run.err());
    // the container's tmpfs is on the host
    assert.ok(hostMountPoints().includes(path.join(host, 'sub')), 'tmpfs propagated to the host');
    assert.equal(fs.readFileSync(path.join(host, 'sub', 'f'), 'utf8'), 'hi\n');
    // nothing else changed on the host: no rootfs bind, no /proc, /dev... of the container
    const during = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(newMountPoints(before, [b.dir, host], during), [path.join(host, 'sub')]);
    assert.ok(!hostMountPoints().some((m) => m.startsWith(b.rootfs)));
  } finally {
    code = await run.finish();
  }
  assert.equal(code, 0, run.err());
  // inside: / is shared (its own group), /mnt is shared
  assert.match(run.out(), /^\d+ \d+ \S+ \S+ \/ .*shared:\d+/m);
  assert.match(run.out(), /^\d+ \d+ \S+ \S+ \/mnt .*shared:\d+/m);
  assert.deepEqual(newMountPoints(before, [b.dir, host]), [path.join(host, 'sub')]);
  assert.ok(!hostMountPoints().some((m) => m.startsWith(b.rootfs)));
});

test('rslave: host mounts reach the container, container mounts do not reach the host', { skip }, async (t) => {
  const { b, host } = sharedBundle(t);
  fs.mkdirSync(path.join(host, 'sub'));
  fs.mkdirSync(path.join(host, 'mine'));
  const before = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  const plan = basePlan(b.rootfs, ['sh', '-c', [
    'mount -t tmpfs tmpfs /mnt/mine',
    'echo up; read x',
    'cat /mnt/sub/f',
    "awk '$5 == \"/mnt/sub\"' /proc/self/mountinfo",
  ].join('; ')]);
  plan.rootfsPropagation = MS_REC | MS_SLAVE;
  plan.mounts.push({ ...mount('/mnt', '', host, MS_BIND | MS_REC), propagation: [MS_REC | MS_SLAVE] });
  const run = await launchUntil(plan, 'up\n');
  let code = -1;
  try {
    assert.match(run.out(), /up\n/, run.err());
    const during = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(newMountPoints(before, [b.dir, host], during), [], 'nothing of the container on the host');
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(host, 'sub')]);
    fs.writeFileSync(path.join(host, 'sub', 'f'), 'from host\n');
  } finally {
    code = await run.finish();
  }
  assert.equal(code, 0, run.err());
  assert.match(run.out(), /from host/);
  assert.match(run.out(), / \/mnt\/sub .*master:\d+/);
  assert.ok(!hostMountPoints().includes(path.join(host, 'mine')));
  assert.ok(!hostMountPoints().some((m) => m.startsWith(b.rootfs)));
});

test('rshared with no-pivot: the rshared bind still reaches the host, the rootfs does not', { skip }, async (t) => {
  const { b, host } = sharedBundle(t);
  fs.mkdirSync(path.join(host, 'sub'));
  const before = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'mount -t tmpfs tmpfs /mnt/sub && echo up; read x; exit 0']);
  plan.noPivot = true;
  plan.rootfsPropagation = MS_REC | MS_SHARED;
  plan.mounts.push({ ...mount('/mnt', '', host, MS_BIND | MS_REC), propagation: [MS_REC | MS_SHARED] });
  const run = await launchUntil(plan, 'up\n');
  let during: string[] = [];
  try {
    during = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  } finally {
    assert.equal(await run.finish(), 0, run.err());
  }
  assert.deepEqual(newMountPoints(before, [b.dir, host], during), [path.join(host, 'sub')]);
  assert.ok(!hostMountPoints().some((m) => m.startsWith(b.rootfs)));
});
