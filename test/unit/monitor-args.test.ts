/** berth-monitor argv building and frame encoding (no root, no process). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { buildMonitorArgv } from '../../src/monitor/args';
import { FrameDecoder, encodeFrame, resizeFrame, F_RESIZE, F_STDOUT, F_STDIN } from '../../src/monitor/protocol';
import { BerthError } from '../../src/runtime/errors';

test('runc create behind the monitor: every option in order, CMD after --', () => {
  const argv = buildMonitorArgv({
    command: ['runc', 'create', '--bundle', '/b', '--console-socket', '/run/c.sock', '--pid-file', '/run/pid', 'id1'],
    pidFile: '/run/pid',
    pidFileTimeoutMs: 500,
    exitFile: '/run/exit',
    logPath: '/var/log/c.log',
    logFormat: 'cri',
    logSizeMax: 1 << 20,
    attachSocket: '/run/attach',
    ctlSocket: '/run/ctl',
    stdin: true,
    stdinOnce: true,
    terminal: true,
    consoleSocket: '/run/c.sock',
    monitorPidFile: '/run/mpid',
    syncFd: 5,
    passFds: [3, 4],
  });
  assert.deepEqual(argv, [
    '--sync-fd', '5',
    '--monitor-pid-file', '/run/mpid',
    '--pid-file', '/run/pid',
    '--pid-file-timeout', '500',
    '--exit-file', '/run/exit',
    '--log-path', '/var/log/c.log',
    '--log-format', 'cri',
    '--log-size-max', '1048576',
    '--attach-socket', '/run/attach',
    '--ctl-socket', '/run/ctl',
    '--stdin', '--stdin-once', '--terminal',
    '--console-socket', '/run/c.sock',
    '--pass-fd', '3', '--pass-fd', '4',
    '--', 'runc', 'create', '--bundle', '/b', '--console-socket', '/run/c.sock', '--pid-file', '/run/pid', 'id1',
  ]);
});

test('minimal: a command that is the container itself', () => {
  assert.deepEqual(buildMonitorArgv({ command: ['sleep', '1'], cmdIsContainer: true }), [
    '--cmd-is-container', '--', 'sleep', '1',
  ]);
});

test('bad combinations are INVALID_ARGUMENT', () => {
  const bad = (o: Parameters<typeof buildMonitorArgv>[0], re: RegExp): void => {
    assert.throws(() => buildMonitorArgv(o), (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT' && re.test(e.message));
  };
  bad({ command: [], cmdIsContainer: true }, /empty command/);
  bad({ command: ['x'] }, /pidFile and cmdIsContainer/);
  bad({ command: ['x'], pidFile: '/p', cmdIsContainer: true }, /pidFile and cmdIsContainer/);
  bad({ command: ['x'], pidFile: '/p', terminal: true }, /consoleSocket/);
  bad({ command: ['x'], pidFile: '/p', consoleSocket: '/c' }, /consoleSocket/);
  bad({ command: ['x'], pidFile: '/p', stdinOnce: true }, /stdinOnce needs stdin/);
  bad({ command: ['x'], pidFile: '/p', passFds: [2] }, /fd number >= 3/);
  bad({ command: ['x'], pidFile: '/p', passFds: [3, 3] }, /duplicates/);
  bad({ command: ['x'], pidFile: '/p', passFds: [3], syncFd: 3 }, /syncFd is also/);
  bad({ command: ['x'], pidFile: '' }, /non-empty/);
  bad({ command: ['x'], pidFile: '/p', logSizeMax: -1 }, /logSizeMax/);
  bad({ command: ['x'], pidFile: '/p', pidFileTimeoutMs: 1.5 }, /pidFileTimeoutMs/);
});

test('frames: encode, decode across chunk boundaries, resize payload', () => {
  const a = encodeFrame(F_STDOUT, Buffer.from('hello'));
  assert.deepEqual([...a.subarray(0, 5)], [1, 5, 0, 0, 0]);
  const r = resizeFrame(40, 132);
  assert.deepEqual([...r], [F_RESIZE, 4, 0, 0, 0, 40, 0, 132, 0]);
  const all = Buffer.concat([a, r, encodeFrame(F_STDIN)]);
  const d = new FrameDecoder();
  const got = [];
  for (let i = 0; i < all.length; i += 3) got.push(...d.push(all.subarray(i, i + 3)));
  assert.deepEqual(
    got.map((f) => [f.type, f.data.toString('hex')]),
    [[F_STDOUT, Buffer.from('hello').toString('hex')], [F_RESIZE, '28008400'], [F_STDIN, '']],
  );
  const huge = Buffer.from([1, 0xff, 0xff, 0xff, 0xff]);
  assert.throws(() => new FrameDecoder().push(huge), /too large/);
});
