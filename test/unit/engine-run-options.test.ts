import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Flags, parseArgs } from '../../src/cli/berth/args';
import { RUN_FLAGS } from '../../src/cli/berth/container';
import { parseBytes, parseEnvFile, parseMount, parsePublish, parseRestart, parseRunOptions, parseVolume } from '../../src/engine/run-options';
import { containerRequest, effectiveArgv, podRequest, resources, userFields } from '../../src/engine/request';
import { BerthError } from '../../src/runtime/errors';

/** `berth run ARGV` as the CLI parses it. */
function run(argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const p = parseArgs(argv, RUN_FLAGS, { stopAtFirstPositional: true, command: 'run' });
  return parseRunOptions(new Flags(p.flags, RUN_FLAGS), p.positionals, {
    env,
    readFile: (f) => {
      const t = files[f];
      if (t === undefined) throw new Error('ENOENT: no such file');
      return t;
    },
    cwd: '/home/me',
  });
}

function invalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && re.test(err.message));
}

test('run: image, command after it (flags after IMAGE belong to the command), defaults', () => {
  const { options: o, warnings } = run(['-d', '--name', 'web', 'busy:1', 'sh', '-c', 'echo -e hi']);
  assert.deepEqual(warnings, []);
  assert.equal(o.image, 'busy:1');
  assert.deepEqual(o.command, ['sh', '-c', 'echo -e hi']);
  assert.equal(o.name, 'web');
  assert.equal(o.detach, true);
  assert.equal(o.network, 'bridge');
  assert.equal(o.pull, 'missing');
  assert.deepEqual(o.restart, { name: 'no', maximumRetryCount: 0 });
  assert.deepEqual(o.seccomp, { kind: 'default' });
  assert.equal(o.entrypoint, undefined);
  assert.equal(o.autoRemove, false);
});

test('run: -it combined, --rm, env from flags, the environment and env files in order', () => {
  const { options: o } = run(['-it', '--rm', '--env-file', '/e', '-e', 'A=1', '-e', 'HOME_X', '-e', 'UNSET', 'img'], { HOME_X: '/x' }, { '/e': '# c\n\nF=from file\nHOME_X\n' });
  assert.equal(o.interactive, true);
  assert.equal(o.tty, true);
  assert.equal(o.autoRemove, true);
  assert.deepEqual(o.env, ['F=from file', 'HOME_X=/x', 'A=1', 'HOME_X=/x']);
  invalid(() => run(['--env-file', '/missing', 'img']), /--env-file \/missing/);
  invalid(() => run(['-e', '=x', 'img']), /invalid environment variable/);
});

test('run: -p forms', () => {
  assert.deepEqual(parsePublish('8080:80'), { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  assert.deepEqual(parsePublish('127.0.0.1:8080:80/udp'), { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' });
  assert.deepEqual(parsePublish('127.0.0.1::80'), { hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' });
  assert.deepEqual(parsePublish('80'), { hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' });
  assert.deepEqual(parsePublish('[::1]:8080:80'), { hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  invalid(() => parsePublish('8080:80/icmp'), /protocol/);
  invalid(() => parsePublish('70000:80'), /out of range/);
  invalid(() => parsePublish('8000-8010:80'), /ranges/);
  invalid(() => parsePublish('host:1:2'), /not an IP/);
  const { options, warnings } = run(['--network', 'host', '-p', '80:80', 'img']);
  assert.deepEqual(options.ports, []);
  assert.match(warnings[0]!, /discarded/);
});

test('run: -v and --mount', () => {
  assert.deepEqual(parseVolume('/h:/c:ro'), { type: 'bind', source: '/h', target: '/c', readonly: true, propagation: 'private' });
  assert.deepEqual(parseVolume('./d:/c:rslave', '/home/me'), { type: 'bind', source: '/home/me/d', target: '/c', readonly: false, propagation: 'rslave' });
  assert.deepEqual(parseVolume('data:/var/lib/x:nocopy'), { type: 'volume', source: 'data', target: '/var/lib/x', readonly: false, propagation: 'private', noCopy: true });
  assert.deepEqual(parseVolume('/anon'), { type: 'volume', source: '', target: '/anon', readonly: false, propagation: 'private' });
  invalid(() => parseVolume('/h:rel'), /must be absolute/);
  invalid(() => parseVolume('/h:/'), /cannot be \//);
  invalid(() => parseVolume('/h:/c:bogus'), /unknown option/);
  assert.deepEqual(parseMount('type=bind,source=/h,target=/c,readonly'), { type: 'bind', source: '/h', target: '/c', readonly: true, propagation: 'private' });
  assert.deepEqual(parseMount('type=volume,src=v,dst=/d,volume-nocopy'), { type: 'volume', source: 'v', target: '/d', readonly: false, propagation: 'private', noCopy: true });
  invalid(() => parseMount('type=tmpfs,target=/t'), /not supported/);
  invalid(() => parseMount('type=bind,source=rel,target=/c'), /absolute/);
  invalid(() => parseMount('type=bind,source=/h'), /target is required/);
  invalid(() => run(['-v', '/a:/x', '--mount', 'type=bind,source=/b,target=/x/', 'img']), /duplicate mount point/);
});

test('run: resources, security, restart, runtime, names', () => {
  const { options: o } = run([
    '-m', '512m', '--cpus', '1.5', '--pids-limit', '100', '--cap-add', 'NET_ADMIN', '--cap-drop', 'ALL', '--privileged', '--read-only',
    '--security-opt', 'seccomp=unconfined', '--security-opt', 'no-new-privileges', '--runtime', 'runc', '--pull', 'never', '--restart', 'on-failure:3',
    '--init', '-u', '1000:50', '-w', '/srv', '--hostname', 'box', '--entrypoint', '', '-l', 'a=b', 'img',
  ]);
  assert.equal(o.memory, 512 * 1024 * 1024);
  assert.equal(o.cpus, 1.5);
  assert.equal(o.pidsLimit, 100);
  assert.deepEqual(o.capAdd, ['NET_ADMIN']);
  assert.deepEqual(o.capDrop, ['ALL']);
  assert.equal(o.privileged, true);
  assert.equal(o.readOnly, true);
  assert.deepEqual(o.seccomp, { kind: 'unconfined' });
  assert.equal(o.noNewPrivileges, true);
  assert.equal(o.runtime, 'runc');
  assert.equal(o.pull, 'never');
  assert.deepEqual(o.restart, { name: 'on-failure', maximumRetryCount: 3 });
  assert.equal(o.init, true);
  assert.equal(o.user, '1000:50');
  assert.equal(o.workdir, '/srv');
  assert.equal(o.hostname, 'box');
  assert.deepEqual(o.entrypoint, []);
  assert.deepEqual(o.labels, { a: 'b' });
  assert.deepEqual(run(['--security-opt', 'seccomp=/p.json', 'img']).options.seccomp, { kind: 'profile', path: '/p.json' });
  assert.equal(parseBytes('1g', '-m'), 1024 ** 3);
  assert.equal(parseBytes('100k', '-m'), 102400);
  assert.equal(parseBytes('4096', '-m'), 4096);
  invalid(() => parseBytes('lots', '-m'), /want a size/);
  invalid(() => run(['-m', '1m', 'img']), /minimum memory/);
  invalid(() => run(['--cpus', '-1', 'img']), /--cpus/);
  invalid(() => run(['--rm', '--restart', 'always', 'img']), /conflicting options/);
  invalid(() => run(['--network', 'weird', 'img']), /network "weird" not found/);
  invalid(() => run(['--security-opt', 'label=user:x', 'img']), /not supported/);
  invalid(() => run(['--name', 'bad name', 'img']), /invalid container name/);
  invalid(() => run(['-w', 'rel', 'img']), /absolute path/);
  assert.equal(run(['--name', '/slash', 'img']).options.name, 'slash');
  assert.deepEqual(parseRestart('always'), { name: 'always', maximumRetryCount: 0 });
  assert.deepEqual(parseRestart('on-failure'), { name: 'on-failure', maximumRetryCount: 0 });
  invalid(() => parseRestart('sometimes'), /invalid restart policy/);
  assert.throws(() => run(['--pull', 'sometimes', 'img']), /want one of always, missing, never/);
});

test('env files: comments, blank lines, KEY taken from the environment', () => {
  assert.deepEqual(parseEnvFile('A=1\r\n  # x\nB\nC\n', 'f', { B: 'b' }), ['A=1', 'B=b']);
});

test('mapping: effective argv follows docker\'s entrypoint/cmd rules', () => {
  const image = { entrypoint: ['/entry'], cmd: ['default'] };
  assert.deepEqual(effectiveArgv({ command: [] }, image), ['/entry', 'default']);
  assert.deepEqual(effectiveArgv({ command: ['x', 'y'] }, image), ['/entry', 'x', 'y']);
  assert.deepEqual(effectiveArgv({ entrypoint: ['sh'], command: [] }, image), ['sh']);
  assert.deepEqual(effectiveArgv({ entrypoint: [], command: ['ls'] }, image), ['ls']);
  invalid(() => effectiveArgv({ command: [] }, { entrypoint: [], cmd: [] }), /no command specified/);
});

test('mapping: user, resources, the container and pod requests', () => {
  assert.deepEqual(userFields('1000:50'), { runAsUser: 1000, runAsGroup: 50 });
  assert.deepEqual(userFields('nobody'), { runAsUsername: 'nobody' });
  assert.deepEqual(userFields('nobody:nogroup'), { runAsUsername: 'nobody:nogroup' });
  assert.deepEqual(resources({ cpus: 0.5, memory: 1 << 26, pidsLimit: 7 }), { memoryLimitInBytes: 1 << 26, cpuPeriod: 100000, cpuQuota: 50000, pidsLimit: 7 });
  const { options } = run(['-t', '-i', '--read-only', '-e', 'A=b=c', '-p', '127.0.0.1:8080:80', '--hostname', 'h', 'img']);
  const req = containerRequest(options, { id: 'f'.repeat(64), name: 'n', image: 'sha256:abc', argv: ['sh'], mounts: [], logPath: 'container.log' });
  assert.deepEqual(req.command, ['sh']);
  assert.deepEqual(req.env, [{ key: 'A', value: 'b=c' }]);
  assert.equal(req.tty, true);
  assert.equal(req.stdin, true);
  assert.equal(req.linux?.securityContext?.readonlyRootfs, true);
  assert.deepEqual(req.linux?.securityContext?.seccomp, { kind: 'runtime-default' });
  assert.equal(req.labels?.['io.berth.engine.id'], 'f'.repeat(64));
  const priv = containerRequest(run(['--privileged', 'img']).options, { id: 'a'.repeat(64), name: 'n', image: 'i', argv: ['sh'], mounts: [], logPath: 'l' });
  assert.deepEqual(priv.linux?.securityContext?.seccomp, { kind: 'unconfined' });
  const pod = podRequest(options, { id: 'e'.repeat(64), logDirectory: '/logs', runtimeHandler: '' });
  assert.equal(pod.hostname, 'h');
  assert.deepEqual(pod.portMappings, [{ protocol: 'tcp', containerPort: 80, hostPort: 8080, hostIp: '127.0.0.1' }]);
  assert.equal(pod.namespaceOptions?.network, 'POD');
  const hostPod = podRequest(run(['--network', 'host', 'img']).options, { id: 'e'.repeat(64), logDirectory: '/logs', runtimeHandler: '' });
  assert.equal(hostPod.namespaceOptions?.network, 'NODE');
  assert.equal(hostPod.hostname, '');
  assert.equal(podRequest(run(['img']).options, { id: '0123456789ab'.padEnd(64, 'c'), logDirectory: '', runtimeHandler: '' }).hostname, '0123456789ab');
});
