/**
 * berth-spawner (native/spawner/spawner.c) through src/util/spawner.ts: status, output, input,
 * environment, cwd, signals, timeouts, programs that cannot start, concurrency, and that
 * src/pod/run.ts gives the same results through it as through child_process.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { defaultSpawnerPath, disableSpawner, enableSpawner, runProgram, SpawnError, spawnerAvailable } from '../../src/util/spawner';
import { run } from '../../src/pod/run';

const skip = fs.existsSync(defaultSpawnerPath()) ? false : 'berth-spawner is not built (make -C native)';

test('spawner: status, stdout, stderr, input, env, cwd', { skip }, async () => {
  enableSpawner();
  assert.equal(spawnerAvailable(), true);
  const r = await runProgram({ file: 'sh', args: ['-c', 'read x; echo "out:$x:$FOO:$(pwd)"; echo err >&2; exit 7'], input: 'hello\n', env: { FOO: 'bar', PATH: '/usr/bin:/bin' }, cwd: os.tmpdir() });
  assert.equal(r.code, 7);
  assert.equal(r.signal, 0);
  assert.equal(r.stdout.toString(), `out:hello:bar:${fs.realpathSync(os.tmpdir())}\n`);
  assert.equal(r.stderr.toString(), 'err\n');
  assert.equal(r.timedOut, false);
  // inherited environment when none is given
  const inh = await runProgram({ file: 'sh', args: ['-c', 'echo "$PATH"'] });
  assert.equal(inh.stdout.toString().trim(), process.env.PATH);
});

test('spawner: big input and output, a program that ignores its stdin', { skip }, async () => {
  enableSpawner();
  const big = Buffer.alloc(3 << 20, 'a');
  const r = await runProgram({ file: 'cat', args: [], input: big });
  assert.equal(r.code, 0);
  assert.equal(r.stdout.length, big.length);
  const ignore = await runProgram({ file: 'true', args: [], input: big });
  assert.equal(ignore.code, 0);
});

test('spawner: signals, timeouts, programs that cannot start', { skip }, async () => {
  enableSpawner();
  const killed = await runProgram({ file: 'sh', args: ['-c', 'kill -TERM $$'] });
  assert.equal(killed.signal, 15);
  assert.equal(killed.code, 128 + 15);
  const t0 = Date.now();
  const slow = await runProgram({ file: 'sleep', args: ['5'], timeoutMs: 200 });
  assert.equal(slow.timedOut, true);
  assert.equal(slow.signal, 9);
  assert.ok(Date.now() - t0 < 3000);
  await assert.rejects(runProgram({ file: '/nonexistent/prog', args: [] }), (e: unknown) => e instanceof SpawnError && e.code === 'ENOENT');
  await assert.rejects(runProgram({ file: 'no-such-program-berth', args: [] }), (e: unknown) => e instanceof SpawnError && e.code === 'ENOENT');
});

test('spawner: many at once, answers matched to their requests', { skip }, async () => {
  enableSpawner();
  const rs = await Promise.all(Array.from({ length: 40 }, (_v, i) => runProgram({ file: 'sh', args: ['-c', `sleep 0.0${i % 5}; echo ${i}; exit ${i % 3}`] })));
  rs.forEach((r, i) => {
    assert.equal(r.stdout.toString(), `${i}\n`);
    assert.equal(r.code, i % 3);
  });
});

test('spawner: src/pod/run.ts gives the same through the helper and through child_process', { skip }, async () => {
  const cases: Array<[string, string[], { input?: string; timeoutMs?: number }]> = [
    ['sh', ['-c', 'cat; echo done >&2; exit 3'], { input: '{"a":1}' }],
    ['sh', ['-c', 'kill -KILL $$'], {}],
  ];
  for (const [file, args, opts] of cases) {
    enableSpawner();
    const viaHelper = await run(file, args, opts);
    disableSpawner();
    const viaNode = await run(file, args, opts);
    assert.deepEqual(viaHelper, viaNode);
  }
  enableSpawner();
  await assert.rejects(run('/nonexistent/x', []), /cannot run \/nonexistent\/x/);
  disableSpawner();
  await assert.rejects(run('/nonexistent/x', []), /cannot run \/nonexistent\/x/);
});
