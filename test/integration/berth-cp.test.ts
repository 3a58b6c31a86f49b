/**
 * `berth cp` both ways, as docker's: files and directories, renames, `dir/.`, tar streams with '-',
 * symlinks in the container resolved inside it (never to the host's files), a stopped container.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { berthSkip, destroyEnv, makeEnv, type BerthEnv } from '../helpers/berth-cli';

const skip = berthSkip();

test('berth cp: in and out, tar streams, no symlink escape', { skip, timeout: 180_000 }, async (t) => {
  let env: BerthEnv | undefined;
  t.after(async () => {
    if (env) await destroyEnv(env);
  });
  env = await makeEnv('cp');
  const b = env.berth;
  const ok = async (args: string[], input?: Buffer | string): Promise<string> => {
    const r = await b(args, input !== undefined ? { input } : {});
    assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const w = env.work;
  fs.mkdirSync(path.join(w, 'src', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(w, 'src', 'a'), 'A\n');
  fs.writeFileSync(path.join(w, 'src', 'sub', 'b'), 'B\n');
  fs.writeFileSync(path.join(w, 'f.txt'), 'F\n');
  await ok(['run', '-d', '--name', 'c', 'bb:1', 'sleep', '1000']);
  await ok(['exec', 'c', 'sh', '-c', 'mkdir /d; ln -s / /d/rootlink; ln -s ../../../../../../etc /d/uplink; echo inside > /d/x']);

  // host -> container
  await ok(['cp', path.join(w, 'f.txt'), 'c:/tmp/']);
  await ok(['cp', path.join(w, 'f.txt'), 'c:/tmp/renamed.txt']);
  await ok(['cp', path.join(w, 'src'), 'c:/tmp/']);
  await ok(['cp', path.join(w, 'src'), 'c:/tmp/newdir']);
  await ok(['cp', `${path.join(w, 'src')}/.`, 'c:/d']);
  assert.equal(await ok(['exec', 'c', 'sh', '-c', 'cat /tmp/f.txt /tmp/renamed.txt /tmp/src/a /tmp/src/sub/b /tmp/newdir/sub/b /d/a']), 'F\nF\nA\nB\nB\nA\n');
  // through symlinks inside the container: they resolve against the container's root
  await ok(['cp', path.join(w, 'f.txt'), 'c:/d/rootlink/escape1.txt']);
  await ok(['cp', path.join(w, 'f.txt'), 'c:/d/uplink/escape2.txt']);
  assert.equal(await ok(['exec', 'c', 'cat', '/escape1.txt', '/etc/escape2.txt']), 'F\nF\n');
  assert.ok(!fs.existsSync('/escape1.txt') && !fs.existsSync('/etc/escape2.txt'), "nothing written to the host's / or /etc");
  // a tar from stdin into a directory
  fs.writeFileSync(path.join(w, 'from-tar.txt'), 'T\n');
  const tar = execFileSync('tar', ['-C', w, '-cf', '-', 'from-tar.txt']);
  await ok(['cp', '-', 'c:/tmp/newdir'], tar);
  assert.equal(await ok(['exec', 'c', 'cat', '/tmp/newdir/from-tar.txt']), 'T\n');

  // container -> host
  await ok(['cp', 'c:/d/x', path.join(w, 'x.out')]);
  assert.equal(fs.readFileSync(path.join(w, 'x.out'), 'utf8'), 'inside\n');
  await ok(['cp', 'c:/tmp/src', path.join(w, 'out1')]);
  assert.equal(fs.readFileSync(path.join(w, 'out1', 'sub', 'b'), 'utf8'), 'B\n');
  fs.mkdirSync(path.join(w, 'out2'));
  await ok(['cp', 'c:/tmp/src', path.join(w, 'out2')]);
  assert.equal(fs.readFileSync(path.join(w, 'out2', 'src', 'a'), 'utf8'), 'A\n');
  // the container's /etc/hostname, not the host's
  await ok(['cp', 'c:/d/uplink/hostname', path.join(w, 'hn')]);
  assert.notEqual(fs.readFileSync(path.join(w, 'hn'), 'utf8'), fs.readFileSync('/etc/hostname', 'utf8'));
  // a symlink is copied as a link unless -L
  await ok(['cp', 'c:/d/rootlink', path.join(w, 'link')]);
  assert.equal(fs.readlinkSync(path.join(w, 'link')), '/');
  // tar to stdout
  const r = await b(['cp', 'c:/d/x', '-']);
  fs.writeFileSync(path.join(w, 'x.tar'), r.stdout, 'latin1');
  assert.equal(execFileSync('tar', ['-tf', path.join(w, 'x.tar')]).toString(), 'x\n');
  // errors
  const nf = await b(['cp', 'c:/nonexistent', path.join(w, 'nf')]);
  assert.equal(nf.status, 125);
  assert.match(nf.stderr, /Could not find the file \/nonexistent/);
  assert.equal((await b(['cp', path.join(w, 'f.txt'), path.join(w, 'g.txt')])).status, 125);

  // a stopped container: its filesystem is still there
  await ok(['stop', '-t', '1', 'c']);
  await ok(['cp', 'c:/tmp/renamed.txt', path.join(w, 'after-stop.txt')]);
  assert.equal(fs.readFileSync(path.join(w, 'after-stop.txt'), 'utf8'), 'F\n');
});
