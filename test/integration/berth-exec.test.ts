/**
 * `berth exec` as a user drives it: exit codes (the command's, 126, 127, 125), -e -w -u, -i with piped
 * stdin, -d, -it on a pty (typed input, size, resize, detach keeps the process), and `berth top`.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { berthSkip, destroyEnv, makeEnv, onPty, type BerthEnv } from '../helpers/berth-cli';

const skip = berthSkip();

test('berth exec: exit codes, env, workdir, user, stdin, detach, top', { skip, timeout: 180_000 }, async (t) => {
  let env: BerthEnv | undefined;
  t.after(async () => {
    if (env) await destroyEnv(env);
  });
  env = await makeEnv('exec');
  const b = env.berth;
  assert.equal((await b(['run', '-d', '--name', 'e1', 'bb:1', 'sleep', '1000'])).status, 0);

  const r0 = await b(['exec', 'e1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r0.status, 3);
  assert.equal(r0.stdout, 'out\n');
  assert.equal(r0.stderr, 'err\n');
  assert.equal((await b(['exec', 'e1', 'no-such-command'])).status, 127);
  assert.equal((await b(['exec', 'e1', '/etc/passwd'])).status, 126);
  const nc = await b(['exec', 'nope', 'true']);
  assert.equal(nc.status, 125);
  assert.match(nc.stderr, /No such container: nope/);

  const r1 = await b(['exec', '-e', 'FOO=bar baz', '-w', '/etc', '-u', '1:2', 'e1', 'sh', '-c', 'echo "$FOO|$(pwd)|$(id -u):$(id -g)"']);
  assert.equal(r1.status, 0, r1.stderr);
  assert.equal(r1.stdout, 'bar baz|/etc|1:2\n');

  const r2 = await b(['exec', '-i', 'e1', 'sh', '-c', 'tr a-z A-Z'], { input: 'piped input\n' });
  assert.equal(r2.stdout, 'PIPED INPUT\n');

  const r3 = await b(['exec', '-d', 'e1', 'sleep', '777']);
  assert.equal(r3.status, 0, r3.stderr);
  const top = await b(['top', 'e1']);
  assert.equal(top.status, 0, top.stderr);
  assert.match(top.stdout, /^UID\s+PID\s+PPID/);
  assert.match(top.stdout, /sleep 1000/);
  assert.match(top.stdout, /sleep 777/);
  assert.doesNotMatch(top.stdout, /node/, 'only the container processes');
  const topo = await b(['top', 'e1', '-o', 'pid,comm']);
  assert.match(topo.stdout, /^\s*PID\s+COMMAND/);

  // -it on a pty
  const flag = path.join(env.work, 'resize-now');
  const pre = `stty rows 31 cols 101; (while [ ! -e ${flag} ]; do sleep 0.1; done; stty rows 41 cols 121 </dev/tty) &`;
  const s = onPty(`${pre} ${env.cmdline(['exec', '-it', 'e1', 'sh'])}`);
  t.after(() => s.child.kill('SIGKILL'));
  await s.waitFor(/# /);
  s.type('echo typed-$((6*7)); stty size; tty\r');
  await s.waitFor(/typed-42/);
  await s.waitFor(/31 101/);
  await s.waitFor(/\/dev\/pts\/\d+/);
  fs.writeFileSync(flag, '');
  for (let i = 0; i < 50 && !/41 121/.test(s.output()); i++) {
    s.type('stty size\r');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(s.output(), /41 121/);
  s.type('exit 6\r');
  assert.equal(await s.exited, 6);

  // detach keys: the exec'd shell and its child keep running
  const d = onPty(env.cmdline(['exec', '-it', '--detach-keys', 'ctrl-x,x', 'e1', 'sh']));
  t.after(() => d.child.kill('SIGKILL'));
  await d.waitFor(/# /);
  d.type('sleep 555\r');
  await new Promise((r) => setTimeout(r, 500));
  d.type('\x18x');
  assert.equal(await d.exited, 0);
  const top2 = await b(['top', 'e1']);
  assert.match(top2.stdout, /sleep 555/, 'the detached exec runs on');

  assert.equal((await b(['stop', '-t', '1', 'e1'])).status, 0);
  const stopped = await b(['exec', 'e1', 'true']);
  assert.equal(stopped.status, 125);
  assert.match(stopped.stderr, /not running/);
});
