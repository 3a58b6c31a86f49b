import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Flags, parseArgs, type FlagSpec } from '../../src/cli/oci/args';
import { parseDuration, parseIntFlag, parseSize } from '../../src/cli/oci/units';
import { filterPsOutput } from '../../src/cli/oci/ps';
import { processFromFlags } from '../../src/cli/oci/exec';
import { resourcesFromFlags } from '../../src/cli/oci/update';
import { formatTable } from '../../src/cli/oci/table';
import { BerthError } from '../../src/runtime/errors';

const specs: FlagSpec[] = [
  { name: 'bundle', short: 'b', type: 'string', help: '' },
  { name: 'detach', short: 'd', type: 'bool', help: '' },
  { name: 'env', short: 'e', type: 'list', help: '' },
  { name: 'preserve-fds', type: 'int', help: '' },
];

function parse(argv: string[], stop?: number) {
  const r = parseArgs(argv, specs, { stopAfterPositionals: stop });
  return { flags: new Flags(r.flags), pos: r.positionals };
}

test('flags before and after positionals, both value syntaxes', () => {
  const a = parse(['--bundle', '/b', 'id1', '-d']);
  assert.equal(a.flags.string('bundle'), '/b');
  assert.equal(a.flags.bool('detach'), true);
  assert.deepEqual(a.pos, ['id1']);
  const b = parse(['id1', '--bundle=/x', '--preserve-fds=2']);
  assert.equal(b.flags.string('bundle'), '/x');
  assert.equal(b.flags.int('preserve-fds'), 2);
  assert.deepEqual(b.pos, ['id1']);
});

test('Go-style single-dash long flags and short aliases with =', () => {
  const a = parse(['-bundle', '/b', '-b=/c', 'x']);
  assert.equal(a.flags.string('bundle'), '/c');
  assert.deepEqual(a.pos, ['x']);
});

test('bool flags accept =true/=false and do not consume the next argument', () => {
  assert.equal(parse(['--detach=false', 'id']).flags.bool('detach'), false);
  assert.equal(parse(['--detach=true', 'id']).flags.bool('detach'), true);
  assert.deepEqual(parse(['--detach', 'id']).pos, ['id']);
  assert.throws(() => parse(['--detach=maybe']), /invalid boolean/);
});

test('repeated list flags accumulate in order', () => {
  const a = parse(['-e', 'A=1', '--env=B=2', '--env', 'C=3']);
  assert.deepEqual(a.flags.list('env'), ['A=1', 'B=2', 'C=3']);
});

test('-- ends flags', () => {
  const a = parse(['id', '--', '--bundle', '-d']);
  assert.deepEqual(a.pos, ['id', '--bundle', '-d']);
  assert.equal(a.flags.has('bundle'), false);
});

test('stopAfterPositionals leaves the rest to the program (exec)', () => {
  const a = parse(['-d', 'id', 'sh', '-c', 'echo --bundle'], 1);
  assert.equal(a.flags.bool('detach'), true);
  assert.deepEqual(a.pos, ['id', 'sh', '-c', 'echo --bundle']);
  const b = parse(['id', '--', 'ls', '-l'], 1);
  assert.deepEqual(b.pos, ['id', 'ls', '-l']);
});

test('unknown flags, missing values and bad integers are usage errors', () => {
  const isUsage = (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT';
  assert.throws(() => parse(['--nope']), (e) => isUsage(e) && /flag provided but not defined: --nope/.test((e as Error).message));
  assert.throws(() => parse(['-x']), isUsage);
  assert.throws(() => parse(['--bundle']), (e) => isUsage(e) && /needs an argument/.test((e as Error).message));
  assert.throws(() => parse(['--preserve-fds', 'two']), isUsage);
  assert.throws(() => parse(['--preserve-fds=1.5']), isUsage);
});

test('a lone dash is a positional', () => {
  assert.deepEqual(parse(['-']).pos, ['-']);
});

test('stopAtFirstPositional (global flags before the command)', () => {
  const r = parseArgs(['--bundle', 'x', 'run', '--bundle', 'y', 'id'], specs, { stopAtFirstPositional: true });
  assert.equal(r.flags.get('bundle'), 'x');
  assert.deepEqual(r.positionals, ['run', '--bundle', 'y', 'id']);
});

test('sizes, integers and durations as runc takes them', () => {
  assert.equal(parseSize('memory', '512m'), 512 * 1024 * 1024);
  assert.equal(parseSize('memory', '1G'), 1024 ** 3);
  assert.equal(parseSize('memory', '4096'), 4096);
  assert.equal(parseSize('memory', '2kb'), 2048);
  assert.equal(parseSize('memory', '-1'), -1);
  assert.throws(() => parseSize('memory', 'lots'), /invalid size/);
  assert.equal(parseIntFlag('cpu-quota', '-1'), -1);
  assert.throws(() => parseIntFlag('cpu-quota', '1e3'));
  assert.equal(parseDuration('interval', '5s'), 5000);
  assert.equal(parseDuration('interval', '1m30s'), 90_000);
  assert.equal(parseDuration('interval', '250ms'), 250);
  assert.throws(() => parseDuration('interval', '5'), /invalid duration/);
  assert.throws(() => parseDuration('interval', 's5'), /invalid duration/);
});

test('ps output is filtered by the PID column', () => {
  const out = 'UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 00:00 ? 00:00:01 init\nroot 42 1 0 00:00 ? 00:00:00 sh\nroot 420 1 0 00:00 ? 00:00:00 x\n';
  assert.equal(filterPsOutput(out, new Set([42])), 'UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 00:00 ? 00:00:00 sh\n');
  assert.throws(() => filterPsOutput('A B\n1 2\n', new Set([1])), /no PID column/);
});

test('exec flags modify the container process', () => {
  const r = parseArgs(['--env', 'X=1', '-u', '1000:100', '-g', '5', '--cwd', '/tmp', '--cap', 'CAP_NET_ADMIN', '-t', '--no-new-privs'], [
    { name: 'env', short: 'e', type: 'list', help: '' },
    { name: 'user', short: 'u', type: 'string', help: '' },
    { name: 'additional-gids', short: 'g', type: 'list', help: '' },
    { name: 'cwd', type: 'string', help: '' },
    { name: 'cap', type: 'list', help: '' },
    { name: 'tty', short: 't', type: 'bool', help: '' },
    { name: 'no-new-privs', type: 'bool', help: '' },
  ]);
  const base = { args: ['init'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 }, capabilities: { bounding: ['CAP_CHOWN'] } };
  const p = processFromFlags(base, ['ls', '-l'], new Flags(r.flags));
  assert.deepEqual(p.args, ['ls', '-l']);
  assert.deepEqual(p.env, ['PATH=/bin', 'X=1']);
  assert.deepEqual(p.user, { uid: 1000, gid: 100, additionalGids: [5] });
  assert.equal(p.cwd, '/tmp');
  assert.equal(p.terminal, true);
  assert.equal(p.noNewPrivileges, true);
  assert.deepEqual(p.capabilities?.bounding, ['CAP_CHOWN', 'CAP_NET_ADMIN']);
  assert.equal(p.capabilities?.inheritable, undefined);
  assert.deepEqual(base.env, ['PATH=/bin'], 'the base process is not modified');
  assert.throws(() => processFromFlags(base, [], new Flags(new Map())), /command to run is required/);
  assert.throws(() => processFromFlags(base, ['x'], new Flags(new Map([['user', 'bob']]))), /must be numeric/);
});

test('update flags become linux.resources', () => {
  const flags = new Flags(
    new Map<string, string | number>([
      ['memory', '64m'],
      ['memory-swap', '-1'],
      ['cpu-quota', '50000'],
      ['cpu-period', '100000'],
      ['cpuset-cpus', '0'],
      ['pids-limit', 10],
      ['blkio-weight', 300],
    ]),
  );
  assert.deepEqual(resourcesFromFlags(flags), {
    memory: { limit: 64 << 20, swap: -1 },
    cpu: { quota: 50000, period: 100000, cpus: '0' },
    pids: { limit: 10 },
    blockIO: { weight: 300 },
  });
});

test('tables align columns', () => {
  assert.equal(formatTable(['ID', 'PID'], [['abc', '1'], ['a', '1234']]), 'ID    PID\nabc   1\na     1234\n');
});
