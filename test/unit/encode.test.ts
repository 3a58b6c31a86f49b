/**
 * encodePlan: the byte layout of native/PROTOCOL.md "Plan encoding", checked field by field with a
 * small reader that follows the documented order, plus the encoder's rejections, plus a cross-check
 * against the C decoder (native/build/plan-dump) when it is built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { encodePlan, PLAN_MAGIC, PLAN_MAX_STR } from '../../src/runtime/plan/encode';
import { BerthError } from '../../src/runtime/errors';
import { seedPlans } from '../helpers/encode-seeds';
import { basePlan } from '../helpers/init-plan';

/** Follows the documented layout; each read checks bounds. */
class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): void {
    assert.ok(this.pos + n <= this.buf.length, `read of ${n} at ${this.pos} past ${this.buf.length}`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  bool(): boolean {
    const v = this.u8();
    assert.ok(v === 0 || v === 1);
    return v === 1;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  str(): string {
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  list<T>(each: () => T): T[] {
    const n = this.u32();
    return Array.from({ length: n }, each);
  }
  done(): boolean {
    return this.pos === this.buf.length;
  }
}

test('encodePlan: header, then every field in the documented order, consumed exactly', () => {
  const [, full] = seedPlans();
  assert.ok(full);
  const buf = encodePlan(full);
  const r = new Reader(buf);
  assert.equal(r.u32(), PLAN_MAGIC);
  assert.equal(buf.subarray(0, 4).toString('latin1'), 'BRTP');
  assert.equal(r.u32(), 1);
  assert.equal(r.u8(), 0); // create
  assert.equal(r.bool(), true);
  assert.equal(r.u32(), full.cloneFlags >>> 0);
  assert.deepEqual(r.list(() => ({ flag: r.u32(), path: r.str() })), full.joinNamespaces);
  assert.equal(r.bool(), true);
  const idmap = () => ({ containerId: r.u32(), hostId: r.u32(), size: r.u32() });
  assert.deepEqual(r.list(idmap), full.uidMappings);
  assert.deepEqual(r.list(idmap), full.gidMappings);
  assert.deepEqual(r.list(() => ({ clockId: r.u32(), secs: r.i64(), nanosecs: r.u32() })), full.timeOffsets);
  assert.equal(r.str(), 'h');
  assert.equal(r.str(), 'd');
  assert.equal(r.str(), full.rootfs);
  assert.equal(r.bool(), true);
  assert.equal(r.u32(), 0);
  assert.equal(r.bool(), false);
  const mounts = r.list(() => ({
    source: r.str(),
    destination: r.str(),
    fstype: r.str(),
    flags: r.u32(),
    propagation: r.list(() => r.u32()),
    data: r.str(),
    recAttrSet: r.u32(),
    recAttrClr: r.u32(),
    destType: r.u8() === 1 ? 'file' : 'dir',
    kind: ['normal', 'bind', 'cgroup'][r.u8()],
  }));
  assert.deepEqual(mounts, full.mounts);
  const devices = r.list(() => ({
    path: r.str(),
    mode: r.u32(),
    major: r.u32(),
    minor: r.u32(),
    uid: r.u32(),
    gid: r.u32(),
    bind: r.bool(),
  }));
  assert.deepEqual(devices, full.devices);
  assert.deepEqual(r.list(() => ({ target: r.str(), path: r.str() })), full.symlinks);
  assert.deepEqual(r.list(() => r.str()), full.maskedPaths);
  assert.deepEqual(r.list(() => r.str()), full.readonlyPaths);
  assert.deepEqual(r.list(() => ({ path: r.str(), value: r.str() })), full.sysctls);
  assert.equal(r.str(), full.execFifo);
  assert.deepEqual(r.bool() ? { mode: r.u32(), uid: r.u32(), gid: r.u32() } : undefined, full.execFifoCreate);
  assert.equal(r.u32(), 2);
  assert.equal(r.bool(), true);
  const hook = () => ({ path: r.str(), args: r.list(() => r.str()), env: r.list(() => r.str()), timeout: r.u32() });
  assert.deepEqual(r.list(hook), full.createContainerHooks);
  assert.deepEqual(r.list(hook), full.startContainerHooks);
  const pr = full.process;
  assert.deepEqual(r.list(() => r.str()), pr.args);
  assert.deepEqual(r.list(() => r.str()), pr.env);
  assert.equal(r.str(), pr.cwd);
  assert.deepEqual([r.u32(), r.u32(), r.list(() => r.u32()), r.i32()], [1000, 1000, [10, 20], 0o22]);
  assert.deepEqual([r.bool(), r.str(), r.u32(), r.u32()], [true, pr.consoleSocket, 24, 80]);
  assert.deepEqual(r.list(() => ({ resource: r.u32(), soft: r.u64(), hard: r.u64() })), pr.rlimits);
  const c = pr.capabilities;
  assert.deepEqual([r.u64(), r.u64(), r.u64(), r.u64(), r.u64()], [c.bounding, c.effective, c.permitted, c.inheritable, c.ambient]);
  assert.equal(r.bool(), true);
  assert.equal(r.bool(), true);
  assert.deepEqual(
    { policy: r.u32(), nice: r.i32(), priority: r.u32(), flags: r.u64(), runtime: r.u64(), deadline: r.u64(), period: r.u64() },
    pr.scheduler,
  );
  assert.equal(r.bool(), true);
  assert.deepEqual({ ioClass: r.u32(), priority: r.u32() }, pr.ioPriority);
  assert.deepEqual(r.list(() => r.u32()), [0, 1]);
  assert.deepEqual(r.list(() => r.u32()), [1]);
  assert.equal(r.i32(), 8);
  assert.equal(r.str(), pr.apparmorProfile);
  assert.equal(r.str(), pr.selinuxLabel);
  assert.equal(r.bool(), true);
  const prog = r.list(() => r.u8());
  assert.deepEqual(Buffer.from(prog), Buffer.from(pr.seccomp!.program));
  assert.deepEqual([r.u32(), r.str(), r.str()], [8, '/run/agent.sock', 'meta "x"']);
  assert.ok(r.done(), `trailing bytes at ${r.pos} of ${buf.length}`);
});

test('encodePlan: minimal plan has the exact expected size', () => {
  const p = basePlan('/r', ['x']);
  p.mounts = [];
  p.devices = [];
  p.symlinks = [];
  p.process.env = [];
  p.process.cwd = '';
  const buf = encodePlan(p);
  // header 8, mode 1, fg 1, flags 4, joins 4, mapped 1, maps 8, offsets 4, hostname/domainname 8,
  // rootfs 4+2, ro 1, prop 4, nopivot 1, mounts/devices/symlinks/masked/ro/sysctls 24, fifo 4+1,
  // preserve 4, keyring 1, hooks 8, args 4+4+1, env 4, cwd 4, uid/gid 8, groups 4, umask 4,
  // terminal 1, console 4, size 8, rlimits 4, caps 40, nnp 1, sched 1, ioprio 1, affinity 8,
  // personality 4, apparmor 4, selinux 4, seccomp 1
  assert.equal(buf.length, 8 + 1 + 1 + 4 + 4 + 1 + 8 + 4 + 8 + 6 + 1 + 4 + 1 + 24 + 4 + 1 + 4 + 1 + 8 + 9 + 4 + 4 + 8 + 4 + 4 + 1 + 4 + 8 + 4 + 40 + 1 + 1 + 1 + 8 + 4 + 4 + 4 + 1);
});

test('encodePlan: rejects what the decoder would reject, naming the field', () => {
  const cases: Array<[string, (p: ReturnType<typeof basePlan>) => void, RegExp]> = [
    ['NUL in a string', (p) => (p.hostname = 'a\0b'), /plan\.hostname: .*NUL/],
    ['long string', (p) => (p.process.env = ['X='.padEnd(PLAN_MAX_STR + 1, 'x')]), /plan\.process\.env\[0\]/],
    ['no args', (p) => (p.process.args = []), /plan\.process\.args/],
    ['negative uid', (p) => (p.process.user.uid = -1), /plan\.process\.user\.uid/],
    ['bad umask', (p) => (p.process.user.umask = 0o1000), /umask/],
    ['seccomp length', (p) => (p.process.seccomp = { program: new Uint8Array(9), flags: 0, listenerPath: '', listenerMetadata: '' }), /seccomp\.program/],
    ['cpu number', (p) => (p.process.cpuAffinityFinal = [9000]), /cpuAffinityFinal\[0\]/],
    ['u64 overflow', (p) => (p.process.rlimits = [{ resource: 7, soft: 1n << 64n, hard: 0n }]), /rlimits\[0\]\.soft/],
    ['nanosecs', (p) => (p.timeOffsets = [{ clockId: 1, secs: 0n, nanosecs: 1e9 }]), /nanosecs/],
  ];
  for (const [name, mutate, re] of cases) {
    const p = basePlan('/r', ['x']);
    mutate(p);
    assert.throws(() => encodePlan(p), (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT' && re.test(e.message), name);
  }
});

test('encodePlan: bit masks with the top bit set are encoded as u32', () => {
  const p = basePlan('/r', ['x']);
  p.cloneFlags = 0x80000000 | 0x20000000; // as `|` produces it: negative in JS
  assert.ok(p.cloneFlags < 0);
  const buf = encodePlan(p);
  assert.equal(buf.readUInt32LE(10), 0xa0000000);
});

const planDump = path.resolve(__dirname, '../../../native/build/plan-dump');

test('C decoder agrees with encodePlan (native/build/plan-dump)', { skip: !fs.existsSync(planDump) && 'plan-dump not built' }, () => {
  const [minimal, full, exec] = seedPlans();
  assert.ok(minimal && full && exec);
  const out = execFileSync(planDump, { input: encodePlan(full), encoding: 'utf8' });
  const lines = out.trim().split('\n');
  const get = (k: string) => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
  assert.deepEqual(get('mode'), ['0']);
  assert.deepEqual(get('hostname'), ['h']);
  assert.deepEqual(get('rootfs'), [full.rootfs]);
  assert.deepEqual(get('arg'), full.process.args);
  assert.deepEqual(get('timeOffset'), ['1 -5 7']);
  assert.deepEqual(get('rlimit'), ['7 1024 4096', '0 18446744073709551615 18446744073709551615']);
  assert.deepEqual(get('umask'), ['18']);
  assert.deepEqual(get('nice'), ['-5']);
  assert.deepEqual(get('seccomp'), ['1 8 0x8 meta "x"']);
  assert.equal(get('mount').length, full.mounts.length);
  assert.match(get('mount')[3] ?? '', /^\/srv\/data \/data  0x5001 1  1 0 1 1$/);
  assert.match(get('mount')[4] ?? '', / 2$/);
  const c = full.process.capabilities;
  assert.deepEqual(get('caps'), [[c.bounding, c.effective, c.permitted, c.inheritable, c.ambient].map((v) => `0x${v.toString(16)}`).join(' ')]);
  assert.deepEqual(get('mode'), ['0']);
  assert.deepEqual(execFileSync(planDump, { input: encodePlan(exec), encoding: 'utf8' }).match(/^mode=(\d)$/m)?.[1], '1');

  // every strict prefix and any trailing byte is rejected, with a reason
  const buf = encodePlan(minimal);
  for (const cut of [0, 4, 8, 9, buf.length - 1]) {
    const r = spawnSync(planDump, { input: buf.subarray(0, cut), encoding: 'utf8' });
    assert.equal(r.status, 1, `prefix ${cut}`);
    assert.match(r.stdout, /^error=plan: .*truncated/);
  }
  const trailing = spawnSync(planDump, { input: Buffer.concat([buf, Buffer.from([0])]), encoding: 'utf8' });
  assert.match(trailing.stdout, /error=plan: end .*1 trailing bytes/);
  const badBool = Buffer.from(buf);
  badBool[9] = 2; // foreground
  assert.match(spawnSync(planDump, { input: badBool, encoding: 'utf8' }).stdout, /error=plan: foreground .*boolean is 2/);
  const nul = encodePlan({ ...minimal, hostname: 'ab' });
  const at = nul.indexOf(Buffer.from('ab'));
  nul[at] = 0;
  assert.match(spawnSync(planDump, { input: nul, encoding: 'utf8' }).stdout, /error=plan: hostname .*NUL/);
  const huge = Buffer.from(buf);
  huge.writeUInt32LE(0xffffffff, 14); // joinNamespaces count
  assert.match(spawnSync(planDump, { input: huge, encoding: 'utf8' }).stdout, /error=plan: joinNamespaces .*too long/);
});
