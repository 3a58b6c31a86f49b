/**
 * `berth run -it` on a real pty (util-linux script): typed input echoes through the container's shell,
 * the pty has the terminal's size at start and follows a resize (SIGWINCH), ctrl-p ctrl-q detaches
 * and the container keeps running, the exit code comes back; without a tty, SIGINT to berth reaches
 * the container's process (signal proxy).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { BERTH, berthSkip, destroyEnv, makeEnv, onPty, type BerthEnv } from '../helpers/berth-cli';

const skip = berthSkip();

test('berth run -it: a real pty: input, size, resize, exit code, detach', { skip, timeout: 180_000 }, async (t) => {
  let env: BerthEnv | undefined;
  t.after(async () => {
    if (env) await destroyEnv(env);
  });
  env = await makeEnv('tty');
  const flag = path.join(env.work, 'resize-now');
  // the pty starts at 30x100; once `flag` exists a background job makes it 40x120 (the kernel then
  // sends SIGWINCH to berth, the foreground process)
  const pre = `stty rows 30 cols 100; (while [ ! -e ${flag} ]; do sleep 0.1; done; stty rows 40 cols 120 </dev/tty) &`;
  const s = onPty(`${pre} ${env.cmdline(['run', '-it', '--name', 'it1', 'bb:1', 'sh'])}`);
  t.after(() => s.child.kill('SIGKILL'));
  await s.waitFor(/# /);
  s.type('echo typed-$((6*7))\r');
  await s.waitFor(/typed-42/);
  s.type('stty size\r');
  await s.waitFor(/30 100/);
  fs.writeFileSync(flag, '');
  // the new size reaches the container's pty
  for (let i = 0; i < 50 && !/40 120/.test(s.output()); i++) {
    s.type('stty size\r');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(s.output(), /40 120/, 'resize followed');
  s.type('exit 5\r');
  assert.equal(await s.exited, 5, "run -it exits with the container's code");

  // ctrl-p ctrl-q: detached, the container keeps running
  const d = onPty(env.cmdline(['run', '-it', '--name', 'it2', 'bb:1', 'sh']));
  t.after(() => d.child.kill('SIGKILL'));
  await d.waitFor(/# /);
  d.type('echo before-detach\r');
  await d.waitFor(/before-detach\r*\n/);
  d.type('\x10\x11');
  assert.equal(await d.exited, 0);
  const ps = await env.berth(['ps', '--format', '{{.Names}} {{.Status}}']);
  assert.match(ps.stdout, /^it2 Up /m, `still running after detach: ${ps.stdout}`);
  const alive = await env.berth(['exec', 'it2', 'echo', 'alive']);
  assert.equal(alive.stdout.trim(), 'alive');
  // a lone ctrl-p followed by something else is passed to the container (not a detach)
  const r = await env.berth(['rm', '-f', 'it2']);
  assert.equal(r.status, 0, r.stderr);
});

test('berth run -i without a tty: SIGINT to berth reaches the container process', { skip, timeout: 120_000 }, async (t) => {
  let env: BerthEnv | undefined;
  t.after(async () => {
    if (env) await destroyEnv(env);
  });
  env = await makeEnv('sig');
  const child = spawn(process.execPath, [BERTH, ...env.globals, 'run', '-i', '--name', 'sig1', 'bb:1', 'sh', '-c', 'trap "echo got-INT; exit 9" INT; echo ready; while :; do sleep 0.1; done'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  for (let i = 0; i < 200 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /ready/);
  child.kill('SIGINT');
  assert.equal(await exited, 9, `output: ${out}`);
  assert.match(out, /got-INT/);
});
