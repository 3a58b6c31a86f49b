/**
 * Named and anonymous volumes through the CLI: create/ls/inspect/rm, `-v name:/path` creating the
 * volume on first use and copying the image's content into it, data kept across containers, rm
 * refused while a container uses it, `rm -v` removing anonymous volumes, prune.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { berthSkip, destroyEnv, makeEnv, type BerthEnv } from '../helpers/berth-cli';

const skip = berthSkip();

test('berth volume and -v NAME:/path', { skip, timeout: 180_000 }, async (t) => {
  let env: BerthEnv | undefined;
  t.after(async () => {
    if (env) await destroyEnv(env);
  });
  env = await makeEnv('vol');
  const b = env.berth;
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await b(args, input !== undefined ? { input } : {});
    assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  assert.equal(await ok(['volume', 'create', '--label', 'team=a', 'data']), 'data\n');
  const insp = JSON.parse(await ok(['volume', 'inspect', 'data'])) as { Name: string; Driver: string; Mountpoint: string; Labels: Record<string, string> }[];
  assert.equal(insp[0]!.Name, 'data');
  assert.equal(insp[0]!.Driver, 'local');
  assert.deepEqual(insp[0]!.Labels, { team: 'a' });
  assert.equal(insp[0]!.Mountpoint, path.join(env.work, 'root', 'engine', 'volumes', 'data', '_data'));
  assert.match(await ok(['volume', 'ls']), /^DRIVER\s+VOLUME NAME\nlocal\s+data\n$/);
  assert.equal(await ok(['volume', 'ls', '-q', '--filter', 'label=team=a']), 'data\n');
  assert.equal((await b(['volume', 'inspect', 'nope'])).status, 1);
  assert.equal((await b(['volume', 'create', 'bad/name'])).status, 125);

  // a new named volume gets the image's content at the mount point; writes persist
  const out = await ok(['run', '--rm', '-v', 'site:/www', 'bb:1', 'sh', '-c', 'cat /www/index.html; echo added > /www/new.txt']);
  assert.equal(out, 'hello from the image\n');
  assert.equal(await ok(['run', '--rm', '-v', 'site:/srv:ro', 'bb:1', 'cat', '/srv/new.txt']), 'added\n');
  const ro = await b(['run', '--rm', '-v', 'site:/srv:ro', 'bb:1', 'sh', '-c', 'echo x > /srv/y']);
  assert.notEqual(ro.status, 0, 'read-only volume');
  // an existing (already used) volume is not refilled
  await ok(['run', '--rm', '-v', 'site:/www', 'bb:1', 'rm', '/www/index.html']);
  assert.equal(await ok(['run', '--rm', '-v', 'site:/www', 'bb:1', 'ls', '/www']), 'new.txt\n');

  // in use: rm refused; anonymous volumes go with rm -v
  await ok(['run', '-d', '--name', 'user1', '-v', 'data:/data', '-v', '/anon', 'bb:1', 'sleep', '1000']);
  const anon = (await ok(['volume', 'ls', '-q'])).split('\n').filter((n) => /^[0-9a-f]{64}$/.test(n));
  assert.equal(anon.length, 1, 'one anonymous volume');
  const rm = await b(['volume', 'rm', 'data']);
  assert.equal(rm.status, 1);
  assert.match(rm.stderr, /in use by container\(s\) user1/);
  await ok(['rm', '-f', '-v', 'user1']);
  assert.ok(!(await ok(['volume', 'ls', '-q'])).includes(anon[0]!), 'rm -v removed the anonymous volume');
  assert.equal(await ok(['volume', 'rm', 'data']), 'data\n');
  assert.ok(!fs.existsSync(path.join(env.work, 'root', 'engine', 'volumes', 'data')));

  // prune: anonymous only by default, all unused with -a
  await ok(['volume', 'create', 'keepme']);
  await ok(['create', '--name', 'c2', '-v', '/anon2', 'bb:1', 'true']);
  await ok(['rm', 'c2']); // without -v: the anonymous volume stays, unused
  const p1 = await ok(['volume', 'prune', '-f']);
  assert.match(p1, /Deleted Volumes:\n[0-9a-f]{64}\n/);
  assert.match(await ok(['volume', 'ls', '-q']), /keepme/);
  await ok(['volume', 'prune', '-f', '-a']);
  assert.equal(await ok(['volume', 'ls', '-q']), '');
});
