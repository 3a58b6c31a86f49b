import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/runtime/errors';
import { parseMountOptions } from '../../src/runtime/plan/compile-mounts';
import * as L from '../../src/runtime/plan/linux';

test('every mount(2) flag option sets or clears its flag', () => {
  const cases: [string, number, boolean][] = [
    ['ro', L.MS_RDONLY, false],
    ['nosuid', L.MS_NOSUID, false],
    ['nodev', L.MS_NODEV, false],
    ['noexec', L.MS_NOEXEC, false],
    ['sync', L.MS_SYNCHRONOUS, false],
    ['remount', L.MS_REMOUNT, false],
    ['mand', L.MS_MANDLOCK, false],
    ['dirsync', L.MS_DIRSYNC, false],
    ['nosymfollow', L.MS_NOSYMFOLLOW, false],
    ['noatime', L.MS_NOATIME, false],
    ['nodiratime', L.MS_NODIRATIME, false],
    ['relatime', L.MS_RELATIME, false],
    ['strictatime', L.MS_STRICTATIME, false],
    ['iversion', L.MS_I_VERSION, false],
    ['lazytime', L.MS_LAZYTIME, false],
    ['silent', L.MS_SILENT, false],
    ['rw', L.MS_RDONLY, true],
    ['suid', L.MS_NOSUID, true],
    ['dev', L.MS_NODEV, true],
    ['exec', L.MS_NOEXEC, true],
    ['async', L.MS_SYNCHRONOUS, true],
    ['nomand', L.MS_MANDLOCK, true],
    ['symfollow', L.MS_NOSYMFOLLOW, true],
    ['atime', L.MS_NOATIME, true],
    ['diratime', L.MS_NODIRATIME, true],
    ['norelatime', L.MS_RELATIME, true],
    ['nostrictatime', L.MS_STRICTATIME, true],
    ['noiversion', L.MS_I_VERSION, true],
    ['nolazytime', L.MS_LAZYTIME, true],
    ['loud', L.MS_SILENT, true],
  ];
  for (const [opt, flag, clears] of cases) {
    const alone = parseMountOptions([opt]);
    assert.equal(alone.flags, clears ? 0 : flag, opt);
    assert.equal(alone.data, '', opt);
    if (clears) {
      // The clearing option undoes an earlier setting one.
      const all = parseMountOptions(['ro', 'nosuid', 'nodev', 'noexec', 'sync', 'mand', 'nosymfollow', 'noatime', 'nodiratime', 'relatime', 'strictatime', 'iversion', 'lazytime', 'silent', opt]);
      assert.equal(all.flags & flag, 0, opt);
    }
  }
  assert.equal(parseMountOptions(['defaults']).flags, 0);
});

test('bind and rbind make bind mounts', () => {
  assert.deepEqual(
    [parseMountOptions(['bind']).flags, parseMountOptions(['bind']).bind],
    [L.MS_BIND, true],
  );
  const r = parseMountOptions(['rbind', 'ro']);
  assert.equal(r.flags, L.MS_BIND | L.MS_REC | L.MS_RDONLY);
  assert.equal(r.bind, true);
  assert.equal(parseMountOptions(['ro']).bind, false);
});

test('propagation options are collected in order', () => {
  const p = parseMountOptions(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);
  assert.deepEqual(p.propagation, [
    L.MS_PRIVATE,
    L.MS_PRIVATE | L.MS_REC,
    L.MS_SHARED,
    L.MS_SHARED | L.MS_REC,
    L.MS_SLAVE,
    L.MS_SLAVE | L.MS_REC,
    L.MS_UNBINDABLE,
    L.MS_UNBINDABLE | L.MS_REC,
  ]);
  assert.equal(p.flags, 0);
});

test('recursive options become mount_setattr attributes', () => {
  const simple: [string, number, number][] = [
    ['rro', L.MOUNT_ATTR_RDONLY, 0],
    ['rrw', 0, L.MOUNT_ATTR_RDONLY],
    ['rnosuid', L.MOUNT_ATTR_NOSUID, 0],
    ['rsuid', 0, L.MOUNT_ATTR_NOSUID],
    ['rnodev', L.MOUNT_ATTR_NODEV, 0],
    ['rdev', 0, L.MOUNT_ATTR_NODEV],
    ['rnoexec', L.MOUNT_ATTR_NOEXEC, 0],
    ['rexec', 0, L.MOUNT_ATTR_NOEXEC],
    ['rnodiratime', L.MOUNT_ATTR_NODIRATIME, 0],
    ['rdiratime', 0, L.MOUNT_ATTR_NODIRATIME],
    ['rnosymfollow', L.MOUNT_ATTR_NOSYMFOLLOW, 0],
    ['rsymfollow', 0, L.MOUNT_ATTR_NOSYMFOLLOW],
    ['rnoatime', L.MOUNT_ATTR_NOATIME, L.MOUNT_ATTR__ATIME],
    ['rstrictatime', L.MOUNT_ATTR_STRICTATIME, L.MOUNT_ATTR__ATIME],
    ['rrelatime', L.MOUNT_ATTR_RELATIME, L.MOUNT_ATTR__ATIME],
    ['ratime', L.MOUNT_ATTR_RELATIME, L.MOUNT_ATTR__ATIME],
    ['rnorelatime', L.MOUNT_ATTR_STRICTATIME, L.MOUNT_ATTR__ATIME],
    ['rnostrictatime', L.MOUNT_ATTR_RELATIME, L.MOUNT_ATTR__ATIME],
  ];
  for (const [opt, set, clr] of simple) {
    const r = parseMountOptions([opt]);
    assert.deepEqual([r.recAttrSet, r.recAttrClr, r.flags, r.data], [set, clr, 0, ''], opt);
  }
  // Last one wins.
  const a = parseMountOptions(['rro', 'rrw']);
  assert.deepEqual([a.recAttrSet, a.recAttrClr], [0, L.MOUNT_ATTR_RDONLY]);
  const b = parseMountOptions(['rnoatime', 'rstrictatime', 'rnosuid']);
  assert.deepEqual([b.recAttrSet, b.recAttrClr], [L.MOUNT_ATTR_STRICTATIME | L.MOUNT_ATTR_NOSUID, L.MOUNT_ATTR__ATIME]);
});

test('unknown options are filesystem data, in order', () => {
  const r = parseMountOptions(['nosuid', 'mode=755', 'size=65536k', 'newinstance', 'ro', 'gid=5']);
  assert.equal(r.data, 'mode=755,size=65536k,newinstance,gid=5');
  assert.equal(r.flags, L.MS_NOSUID | L.MS_RDONLY);
});

test('unsupported options are refused with the option path', () => {
  for (const o of ['idmap', 'ridmap', 'tmpcopyup']) {
    assert.throws(
      () => parseMountOptions(['rbind', o], 'mounts[4].options'),
      (e: unknown) => e instanceof ConfigError && e.path === 'mounts[4].options[1]' && /not supported/.test(e.message),
    );
  }
});

test('constants match the kernel ABI', () => {
  assert.equal(L.CAPABILITY_NAMES.length, 41);
  assert.equal(L.CAPABILITIES.get('CAP_CHOWN'), 0);
  assert.equal(L.CAPABILITIES.get('CAP_SETFCAP'), 31);
  assert.equal(L.CAPABILITIES.get('CAP_AUDIT_READ'), 37);
  assert.equal(L.CAPABILITIES.get('CAP_CHECKPOINT_RESTORE'), 40);
  assert.equal(L.NAMESPACES.uts.flag, 0x04000000);
  assert.equal(L.NAMESPACES.time.flag, 0x80);
  assert.equal(L.RLIMITS.RLIMIT_RTTIME, 15);
  assert.equal(L.PERSONALITY_DOMAINS.LINUX32, 8);
  assert.equal(L.TIME_NS_CLOCKS.boottime, 7);
});
