import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  DEFAULT_PATH,
  imageRuntimeConfig,
  imageRuntimeConfigFromRootfs,
  mergeEnv,
  parseExposedPorts,
  parseSignal,
  parseVolumes,
  readUserDb,
  resolveArgs,
  resolveCwd,
  resolveUser,
  signalName,
  type ImageConfig,
  type UserDb,
} from '../../src/image/config';
import { BerthError, ConfigError } from '../../src/runtime/errors';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  '# comment',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'broken line',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  '',
].join('\n');
const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'wheel:x:10:root,app',
  'app:x:1000:',
  'audio:x:29:app',
  'video:x:44: app , other',
  'nogroup:x:65534:',
].join('\n');
const DB: UserDb = { passwd: PASSWD, group: GROUP };
const NONE: UserDb = { passwd: null, group: null };

test('args: Entrypoint + Cmd, with docker/CRI override rules', () => {
  const img = { Entrypoint: ['/entry', '-x'], Cmd: ['serve', '--port=80'] };
  assert.deepEqual(resolveArgs(img, {}), ['/entry', '-x', 'serve', '--port=80']);
  assert.deepEqual(resolveArgs(img, { cmd: ['other'] }), ['/entry', '-x', 'other']);
  assert.deepEqual(resolveArgs(img, { entrypoint: ['/bin/sh'] }), ['/bin/sh'], 'a new entrypoint drops the image Cmd');
  assert.deepEqual(resolveArgs(img, { entrypoint: ['/bin/sh'], cmd: ['-c', 'x'] }), ['/bin/sh', '-c', 'x']);
  assert.deepEqual(resolveArgs(img, { entrypoint: [] }), ['serve', '--port=80'], 'an empty entrypoint clears it, keeps Cmd');
  assert.deepEqual(resolveArgs(img, { cmd: [] }), ['/entry', '-x', 'serve', '--port=80'], 'empty cmd = not given');
  assert.deepEqual(resolveArgs({ Cmd: ['sh'] }, {}), ['sh']);
  assert.deepEqual(resolveArgs({ Entrypoint: null, Cmd: null }, { cmd: ['ls'] }), ['ls']);
  assert.throws(() => resolveArgs({}, {}), (e: unknown) => e instanceof ConfigError && e.path === 'process.args');
});

test('env: overrides replace by key, keep order, append new keys, default PATH', () => {
  const image = ['PATH=/custom', 'A=1', 'B=2'];
  assert.deepEqual(mergeEnv(image, ['B=3', 'C=4', 'A=']), ['PATH=/custom', 'A=', 'B=3', 'C=4']);
  assert.deepEqual(mergeEnv(image, { C: 'x=y' }), ['PATH=/custom', 'A=1', 'B=2', 'C=x=y']);
  assert.deepEqual(mergeEnv(['A=1'], []), ['A=1', `PATH=${DEFAULT_PATH}`]);
  assert.deepEqual(mergeEnv(['A=1'], [], false), ['A=1']);
  assert.deepEqual(mergeEnv(null, ['PATH=/p']), ['PATH=/p']);
  assert.throws(() => mergeEnv([], ['NOEQUALS']), (e: unknown) => e instanceof ConfigError && e.path === 'process.env[0]');
  assert.throws(() => mergeEnv([], ['=x']), ConfigError);
});

test('cwd: override, image WorkingDir, "/", relative made absolute', () => {
  assert.equal(resolveCwd({}, {}), '/');
  assert.equal(resolveCwd({ WorkingDir: '/app' }, {}), '/app');
  assert.equal(resolveCwd({ WorkingDir: '/app' }, { workingDir: '/srv/' }), '/srv');
  assert.equal(resolveCwd({ WorkingDir: 'rel/dir' }, {}), '/rel/dir');
  assert.equal(resolveCwd({ WorkingDir: '/a/../b' }, {}), '/b');
});

test('user: numeric uid, with and without a passwd entry', () => {
  assert.deepEqual(resolveUser('1000', DB), { uid: 1000, gid: 1000, additionalGids: [10, 29, 44], username: 'app', home: '/home/app' });
  assert.deepEqual(resolveUser('4242', DB), { uid: 4242, gid: 0, additionalGids: [] });
  assert.deepEqual(resolveUser('4242', NONE), { uid: 4242, gid: 0, additionalGids: [] });
  assert.deepEqual(resolveUser('', DB), { uid: 0, gid: 0, additionalGids: [10], username: 'root', home: '/root' });
});

test('user: name, name:group, uid:gid, uid:groupname, name:gid', () => {
  assert.deepEqual(resolveUser('app', DB), { uid: 1000, gid: 1000, additionalGids: [10, 29, 44], username: 'app', home: '/home/app' });
  assert.deepEqual(resolveUser('app:audio', DB), { uid: 1000, gid: 29, additionalGids: [], username: 'app', home: '/home/app' });
  assert.deepEqual(resolveUser('1000:44', DB), { uid: 1000, gid: 44, additionalGids: [], username: 'app', home: '/home/app' });
  assert.deepEqual(resolveUser('5000:nogroup', DB), { uid: 5000, gid: 65534, additionalGids: [] });
  assert.deepEqual(resolveUser('daemon:7', DB), { uid: 1, gid: 7, additionalGids: [], username: 'daemon', home: '/usr/sbin' });
  assert.deepEqual(resolveUser('5:6', NONE), { uid: 5, gid: 6, additionalGids: [] });
});

test('user: missing names and malformed specs are clear errors', () => {
  assert.throws(() => resolveUser('ghost', DB), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND' && /user "ghost" not found/.test(e.message));
  assert.throws(() => resolveUser('app:ghosts', DB), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND' && /group "ghosts"/.test(e.message));
  assert.throws(() => resolveUser('app', NONE), /has no \/etc\/passwd/);
  assert.throws(() => resolveUser('1:2:3', DB), ConfigError);
  assert.throws(() => resolveUser(':5', DB), ConfigError);
  assert.throws(() => resolveUser('5:', DB), ConfigError);
  assert.throws(() => resolveUser('99999999999', DB), /out of range/);
  assert.throws(() => resolveUser('1:4294967295', DB), /out of range/);
});

test('stop signals: names, numbers, real-time', () => {
  assert.equal(parseSignal('SIGTERM'), 15);
  assert.equal(parseSignal('term'), 15);
  assert.equal(parseSignal('SIGKILL'), 9);
  assert.equal(parseSignal('9'), 9);
  assert.equal(parseSignal('SIGWINCH'), 28);
  assert.equal(parseSignal('SIGRTMIN+3'), 37);
  assert.equal(parseSignal('RTMAX-1'), 63);
  assert.throws(() => parseSignal('SIGFOO'), ConfigError);
  assert.throws(() => parseSignal('0'), ConfigError);
  assert.throws(() => parseSignal('65'), ConfigError);
  assert.throws(() => parseSignal('SIGRTMAX+1'), ConfigError);
  assert.equal(signalName(15), 'SIGTERM');
  assert.equal(signalName(36), 'SIGRTMIN+2');
});

test('exposed ports and volumes', () => {
  assert.deepEqual(parseExposedPorts({ '80/tcp': {}, '53/udp': {}, '8080': {}, '53/tcp': {}, '9000-9002/SCTP': {} }), [
    { port: 53, protocol: 'tcp' },
    { port: 53, protocol: 'udp' },
    { port: 80, protocol: 'tcp' },
    { port: 8080, protocol: 'tcp' },
    { port: 9000, protocol: 'sctp' },
    { port: 9001, protocol: 'sctp' },
    { port: 9002, protocol: 'sctp' },
  ]);
  assert.deepEqual(parseExposedPorts(null), []);
  assert.throws(() => parseExposedPorts({ '80/icmp': {} }), ConfigError);
  assert.throws(() => parseExposedPorts({ '70000/tcp': {} }), ConfigError);
  assert.throws(() => parseExposedPorts({ 'http': {} }), ConfigError);
  assert.deepEqual(parseVolumes({ '/data/': {}, '/var/lib/x': {}, 'rel': {} }), ['/data', '/rel', '/var/lib/x']);
});

test('a whole image config', () => {
  const image: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: {
      User: 'app',
      Env: ['PATH=/usr/bin', 'LANG=C'],
      Entrypoint: ['/docker-entrypoint.sh'],
      Cmd: ['nginx', '-g', 'daemon off;'],
      WorkingDir: '/srv',
      ExposedPorts: { '80/tcp': {} },
      StopSignal: 'SIGQUIT',
      Volumes: { '/var/cache/nginx': {} },
      Labels: { maintainer: 'someone' },
    },
    rootfs: { type: 'layers', diff_ids: [] },
  };
  const r = imageRuntimeConfig(image, { env: { LANG: 'C.UTF-8' }, user: '' }, DB);
  assert.deepEqual(r.process.args, ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
  assert.deepEqual(r.process.env, ['PATH=/usr/bin', 'LANG=C.UTF-8']);
  assert.equal(r.process.cwd, '/srv');
  assert.equal(r.process.user.uid, 1000);
  assert.equal(r.stopSignal, 3);
  assert.equal(r.stopSignalName, 'SIGQUIT');
  assert.deepEqual(r.exposedPorts, [{ port: 80, protocol: 'tcp' }]);
  assert.deepEqual(r.volumes, ['/var/cache/nginx']);
  assert.deepEqual(r.labels, { maintainer: 'someone' });
  const r2 = imageRuntimeConfig({ config: { Cmd: ['sh'] } }, { user: '0:0' }, NONE);
  assert.equal(r2.stopSignal, 15);
  assert.deepEqual(r2.process.user, { uid: 0, gid: 0, additionalGids: [] });
  assert.throws(() => imageRuntimeConfig({ config: { Cmd: ['sh'], StopSignal: 'NOPE' } }, {}, NONE), (e: unknown) => e instanceof ConfigError && e.path === 'config.StopSignal');
});

test('passwd is read inside the rootfs; symlinks never lead out of it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-imgcfg-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rootfs = path.join(dir, 'rootfs');
  const host = path.join(dir, 'host');
  fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  fs.mkdirSync(host);
  fs.writeFileSync(path.join(host, 'passwd'), 'hostuser:x:4444:4444::/:/bin/sh\n');
  // /etc/passwd -> an absolute path that exists on the host: must resolve inside the rootfs.
  fs.symlinkSync(path.join(host, 'passwd'), path.join(rootfs, 'etc/passwd'));
  fs.symlinkSync('../../../host/passwd', path.join(rootfs, 'etc/group'));
  let db = await readUserDb(rootfs);
  assert.deepEqual(db, { passwd: null, group: null });
  await assert.rejects(imageRuntimeConfigFromRootfs({ config: { Cmd: ['x'], User: 'hostuser' } }, {}, rootfs), /not found/);
  // Now the link's target exists inside the rootfs.
  fs.mkdirSync(path.join(rootfs, host), { recursive: true });
  fs.writeFileSync(path.join(rootfs, host, 'passwd'), 'inner:x:7:8::/:/bin/sh\n');
  db = await readUserDb(rootfs);
  assert.equal(db.passwd, 'inner:x:7:8::/:/bin/sh\n');
  const r = await imageRuntimeConfigFromRootfs({ config: { Cmd: ['x'], User: 'inner' } }, {}, rootfs);
  assert.deepEqual(r.process.user, { uid: 7, gid: 8, additionalGids: [], username: 'inner', home: '/' });
  // A fifo or directory as /etc/group is refused, not hung on.
  fs.rmSync(path.join(rootfs, 'etc/group'));
  fs.mkdirSync(path.join(rootfs, 'etc/group'));
  await assert.rejects(readUserDb(rootfs), /not a regular file/);
});
