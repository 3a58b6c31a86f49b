import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliLogger } from '../../src/cli/oci/log';
import { featuresDocument } from '../../src/runtime/container/features';
import { MOUNT_OPTIONS, NAMESPACES } from '../../src/runtime/plan/linux';
import { main } from '../../src/cli/berth-oci';

test('--log-format json writes one JSON object per line (what containerd parses)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-log-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'log.json');
  const l = new CliLogger(file, 'json', false);
  l.error('boom "quoted"');
  l.warn('careful');
  l.debug('hidden without --debug');
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((x) => JSON.parse(x) as { level: string; msg: string; time: string });
  assert.deepEqual(lines.map((x) => [x.level, x.msg]), [['error', 'boom "quoted"'], ['warning', 'careful']]);
  assert.ok(!Number.isNaN(Date.parse(lines[0]!.time)));
  const text = path.join(dir, 'log.txt');
  const lt = new CliLogger(text, 'text', true);
  lt.debug('shown');
  lt.error('bad');
  assert.match(fs.readFileSync(text, 'utf8'), /^time="[^"]+" level=debug msg="shown"\ntime="[^"]+" level=error msg="bad"\n$/);
});

test('features lists exactly what the compiler tables implement', () => {
  const f = featuresDocument();
  assert.deepEqual(new Set(f.linux.namespaces), new Set(Object.keys(NAMESPACES)));
  for (const o of f.mountOptions) assert.notEqual(MOUNT_OPTIONS.get(o)?.kind, 'unsupported', o);
  assert.ok(!f.mountOptions.includes('idmap'));
  assert.equal(f.linux.mountExtensions.idmap.enabled, false);
  assert.ok(f.linux.seccomp.archs.includes('SCMP_ARCH_X86_64'));
  assert.ok(!f.linux.seccomp.archs.includes('SCMP_ARCH_S390X'), 'only archs with syscall tables');
  assert.deepEqual(f.hooks, ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
});

test('main: unknown command and bad global flags exit 1; --version and help exit 0', async (t) => {
  const writes: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  const origOut = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((s: string) => (writes.push(String(s)), true)) as typeof process.stderr.write;
  process.stdout.write = ((s: string) => (writes.push(String(s)), true)) as typeof process.stdout.write;
  t.after(() => {
    process.stderr.write = orig;
    process.stdout.write = origOut;
  });
  assert.equal(await main(['nope']), 1);
  assert.equal(await main(['--log-format', 'xml', 'list']), 1);
  assert.equal(await main(['--cgroup-manager', 'magic', 'list']), 1);
  assert.equal(await main(['--version']), 0);
  assert.equal(await main(['help', 'exec']), 0);
  assert.equal(await main(['exec', '--help']), 0);
  process.stderr.write = orig;
  process.stdout.write = origOut;
  const all = writes.join('');
  assert.match(all, /no such command: nope/);
  assert.match(all, /invalid --log-format \\"xml\\"/);
  assert.match(all, /invalid --cgroup-manager \\"magic\\"/);
  assert.match(all, /berth-oci version/);
  assert.match(all, /usage: berth-oci exec/);
});
