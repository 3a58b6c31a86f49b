/**
 * Restart policies and --rm, daemonless (the monitor's exit command runs `berth container cleanup`):
 * on-failure:2 restarts a failing container twice and then leaves it exited; always restarts a
 * container whose process was SIGKILLed from outside; `berth stop` never triggers a restart; `run -d
 * --rm` removes the container (and its anonymous volume) once it exits. --init: pid 1 is berth's init,
 * which forwards a stop's SIGTERM to the command and reaps orphans.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMonitor } from '../../src/monitor/start';
import { berthSkip, destroyEnv, makeEnv, type BerthEnv } from '../helpers/berth-cli';

const skip = berthSkip();

async function until(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('restart policies: on-failure:N, always after SIGKILL, stop does not restart, --rm', { skip, timeout: 180_000 }, async (t) => {
  let env: BerthEnv | undefined;
  t.after(async () => {
    if (env) await destroyEnv(env);
  });
  env = await makeEnv('restart');
  const b = env.berth;
  const ok = async (args: string[]): Promise<void> => {
    const r = await b(args);
    assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  };
  const insp = async (name: string, tpl: string): Promise<string> => (await b(['inspect', '--format', tpl, name])).stdout.trim();

  // on-failure:2: three runs in all, then it stays exited with the last code
  await ok(['run', '-d', '--name', 'of', '--restart', 'on-failure:2', 'bb:1', 'sh', '-c', 'echo run; exit 3']);
  await until('two restarts', async () => (await insp('of', '{{.RestartCount}}')) === '2');
  await until('exited', async () => (await insp('of', '{{.State.Status}}')) === 'exited');
  await new Promise((r) => setTimeout(r, 2000)); // no third restart comes
  assert.equal(await insp('of', '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}'), '2 exited 3');
  const logs = await b(['logs', 'of']);
  assert.equal(logs.stdout, 'run\nrun\nrun\n', 'the log spans every run');
  const ev = await b(['events', '--since', '5m', '--until', '0s', '--filter', 'container=of', '--format', '{{.Action}}']);
  assert.deepEqual(ev.stdout.trim().split('\n').filter((a) => a === 'die' || a === 'restart'), ['die', 'restart', 'die', 'restart', 'die']);

  // on-failure does not restart a success
  await ok(['run', '-d', '--name', 'ok', '--restart', 'on-failure', 'bb:1', 'true']);
  await until('ok exited', async () => (await insp('ok', '{{.State.Status}}')) === 'exited');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await insp('ok', '{{.RestartCount}}'), '0');

  // always: a process killed from outside comes back with a new pid
  await ok(['run', '-d', '--name', 'al', '--restart', 'always', 'bb:1', 'sleep', '1000']);
  await until('al running', async () => Number(await insp('al', '{{.State.Pid}}')) > 0);
  const pid1 = Number(await insp('al', '{{.State.Pid}}'));
  process.kill(pid1, 'SIGKILL');
  await until('al restarted', async () => (await insp('al', '{{.RestartCount}}')) === '1' && Number(await insp('al', '{{.State.Pid}}')) > 0);
  const pid2 = Number(await insp('al', '{{.State.Pid}}'));
  assert.notEqual(pid2, pid1);
  assert.equal(await insp('al', '{{.State.Status}}'), 'running');

  // stop: no restart
  await ok(['stop', '-t', '1', 'al']);
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(await insp('al', '{{.State.Status}} {{.RestartCount}}'), 'exited 1');

  // run -d --rm: gone after it exits, with its anonymous volume
  const vols0 = (await b(['volume', 'ls', '-q'])).stdout;
  await ok(['run', '-d', '--rm', '--name', 'gone', '-v', '/scratch', 'bb:1', 'sh', '-c', 'sleep 0.5']);
  await until('--rm removed it', async () => !(await b(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').includes('gone'));
  assert.equal((await b(['volume', 'ls', '-q'])).stdout, vols0, 'its anonymous volume went with it');
});

test('--init: pid 1 forwards signals, reaps orphans, and exits with the command', { skip, timeout: 120_000 }, async (t) => {
  let env: BerthEnv | undefined;
  t.after(async () => {
    if (env) await destroyEnv(env);
  });
  env = await makeEnv('init');
  const b = env.berth;
  const ok = async (args: string[]): Promise<void> => {
    const r = await b(args);
    assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  };
  const r = await b(['run', '--rm', '--init', 'bb:1', 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline; echo; exit 7']);
  assert.equal(r.status, 7, r.stderr);
  assert.match(r.stdout, /^\/sbin\/berth-pause --init -- sh -c /);
  // a shell as pid 1 ignores SIGTERM (a stop would wait for the timeout); under the init it ends at once
  await ok(['run', '-d', '--init', '--name', 'in', 'bb:1', 'sh', '-c', '(sleep 0.2 &); sleep 1000']);
  await new Promise((res) => setTimeout(res, 1000));
  const z = await b(['exec', 'in', 'sh', '-c', 'ps -o stat | grep -c "^Z" || true']);
  assert.equal(z.stdout.trim(), '0', 'orphans are reaped');
  const t0 = Date.now();
  await ok(['stop', '-t', '20', 'in']);
  assert.ok(Date.now() - t0 < 10_000, `stop took ${Date.now() - t0} ms: SIGTERM was not forwarded`);
  assert.equal((await b(['inspect', '--format', '{{.State.ExitCode}}', 'in'])).stdout.trim(), '143');
});

test('berth-monitor --exit-command: runs after the exit file, detached, stdio on /dev/null, no other fds', { timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'b-exitcmd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const exitFile = path.join(dir, 'exit');
  const out = path.join(dir, 'out');
  const script = `cat ${exitFile} > ${out}.tmp; echo "args:$1,$2" >> ${out}.tmp; ls /proc/self/fd | tr '\\n' ' ' >> ${out}.tmp; readlink /proc/self/fd/0 >> ${out}.tmp; ps -o sid= -p $$ >> ${out}.tmp 2>/dev/null; mv ${out}.tmp ${out}`;
  await startMonitor({ command: ['sh', '-c', 'sleep 0.2; exit 4'], cmdIsContainer: true, exitFile, exitCommand: '/bin/sh', exitCommandArgs: ['-c', script, 'sh', 'one', 'two'] });
  for (let i = 0; i < 100 && !fs.existsSync(out); i++) await new Promise((r) => setTimeout(r, 50));
  const text = fs.readFileSync(out, 'utf8');
  assert.match(text, /"exitCode":4/, 'the exit file was written before');
  assert.match(text, /args:one,two/);
  assert.match(text, /^0 1 2 3 \/dev\/null$/m, "only stdio (3 is ls's own dir fd), stdin on /dev/null");
});
