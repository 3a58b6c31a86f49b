/**
 * berth CLI frame: flag parsing, help for every command, exit codes, output helpers (tables, sizes,
 * times, --format), the pull progress display (fed fake events, frames asserted) and the bash
 * completion script. No root, no registry: main() runs in-process with captured streams.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { Flags, parseArgs, UsageError, type FlagSpec } from '../../src/cli/berth/args';
import { COMMANDS, lookupCommand, namesOf } from '../../src/cli/berth/commands';
import { bashCompletion } from '../../src/cli/berth/completion';
import { pullEventToUpdate } from '../../src/cli/berth/image';
import { main, EXIT_BERTH_ERROR } from '../../src/cli/berth';
import { renderTable } from '../../src/cli/common/table';
import { humanSize, shortId } from '../../src/cli/common/units';
import { humanDuration, timeAgo } from '../../src/cli/common/time';
import { formatRows, parseTemplate } from '../../src/cli/common/format';
import { filterBool, parseFilters } from '../../src/cli/common/filter';
import { ProgressView, layerLine, progressBar } from '../../src/cli/common/progress';

const SPECS: FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'bool', help: '' },
  { name: 'all', short: 'a', type: 'bool', help: '' },
  { name: 'interactive', short: 'i', type: 'bool', help: '' },
  { name: 'tty', short: 't', type: 'bool', help: '' },
  { name: 'format', type: 'string', help: '', default: 'table' },
  { name: 'output', short: 'o', type: 'string', help: '' },
  { name: 'env', short: 'e', type: 'list', help: '' },
  { name: 'count', short: 'n', type: 'int', help: '' },
  { name: 'mode', type: 'string', help: '', choices: ['a', 'b'] },
];

function parse(argv: string[], stop = false): { f: Flags; pos: string[] } {
  const p = parseArgs(argv, SPECS, { stopAtFirstPositional: stop, command: 'x' });
  return { f: new Flags(p.flags, SPECS), pos: p.positionals };
}

test('flags: long, short, combined, attached values, =, repeated, --', () => {
  let r = parse(['-q', '--format', 'json', 'img']);
  assert.equal(r.f.bool('quiet'), true);
  assert.equal(r.f.string('format'), 'json');
  assert.deepEqual(r.pos, ['img']);
  r = parse(['-it', 'img', '-qa']);
  assert.ok(r.f.bool('interactive') && r.f.bool('tty') && r.f.bool('quiet') && r.f.bool('all'));
  assert.deepEqual(r.pos, ['img']);
  r = parse(['--format=json', '-ofile', '-e', 'A=1', '--env=B=2', '-eC=3', '-n', '5']);
  assert.equal(r.f.string('format'), 'json');
  assert.equal(r.f.string('output'), 'file');
  assert.deepEqual(r.f.list('env'), ['A=1', 'B=2', 'C=3']);
  assert.equal(r.f.int('count'), 5);
  r = parse(['-qo', 'out', 'x']);
  assert.equal(r.f.string('output'), 'out');
  assert.deepEqual(r.pos, ['x']);
  r = parse(['--quiet=false', '--format', 'a', '--format', 'b']);
  assert.equal(r.f.bool('quiet'), false);
  assert.equal(r.f.string('format'), 'b', 'last value wins');
  r = parse(['a', '--', '-q', '--x']);
  assert.deepEqual(r.pos, ['a', '-q', '--x']);
  assert.equal(r.f.bool('quiet'), false);
  r = parse(['img', '-q', 'cmd'], true);
  assert.deepEqual(r.pos, ['img', '-q', 'cmd'], 'stops at the first positional');
  assert.equal(parse([]).f.string('format'), 'table', 'default');
  assert.deepEqual(parse(['-']).pos, ['-'], 'a lone dash is an argument (stdin)');
});

test('flags: errors name the flag and the command', () => {
  assert.throws(() => parse(['--nope']), (e: unknown) => e instanceof UsageError && e.message === 'unknown flag: --nope' && e.command === 'x');
  assert.throws(() => parse(['-z']), /unknown shorthand flag: 'z' in -z/);
  assert.throws(() => parse(['--format']), /flag needs an argument: --format/);
  assert.throws(() => parse(['-o']), /flag needs an argument/);
  assert.throws(() => parse(['-n', 'x']), /not an integer/);
  assert.throws(() => parse(['--quiet=maybe']), /want true or false/);
  assert.throws(() => parse(['--mode', 'c']), /want one of a, b/);
});

test('command table: lookups, aliases, unique names, help on every command', async () => {
  assert.equal(lookupCommand(['images'])?.cmd.name, 'image ls');
  assert.equal(lookupCommand(['image', 'ls'])?.used, 2);
  assert.equal(lookupCommand(['rmi', 'x'])?.cmd.name, 'image rm');
  assert.equal(lookupCommand(['nope']), undefined);
  const all = COMMANDS.flatMap(namesOf);
  assert.equal(new Set(all).size, all.length, 'no name used twice');
  for (const c of COMMANDS) {
    for (const name of namesOf(c)) {
      const out = await run([...name.split(' '), '--help']);
      assert.equal(out.code, 0, name);
      assert.ok(out.stdout.startsWith(`Usage:  berth ${c.usage}\n`), `${name}: ${out.stdout}`);
      assert.ok(out.stdout.includes(c.summary));
      assert.ok(out.stdout.includes('-h, --help'));
      for (const f of c.flags.filter((x) => !x.hidden)) assert.ok(out.stdout.includes(`--${f.name}`), `${name} --${f.name}`);
    }
  }
  const top = await run(['--help']);
  assert.equal(top.code, 0);
  for (const w of ['pull', 'images', 'rmi', 'inspect', 'tag', 'load', 'import', 'save', 'image', '--root', '--run-root', '--hosts-dir', '--config', '--debug']) {
    assert.ok(top.stdout.includes(w), w);
  }
  const group = await run(['image', '--help']);
  assert.equal(group.code, 0);
  assert.match(group.stdout, /^Usage: {2}berth image COMMAND/);
  assert.match(group.stdout, /\n {2}prune +Remove unused images\n/);
  assert.equal((await run(['help', 'pull'])).stdout, (await run(['pull', '--help'])).stdout);
});

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], stdin = ''): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string | Uint8Array) => (stdout += s.toString()) },
    stderr: { write: (s: string | Uint8Array) => (stderr += s.toString()) },
    stdin: Readable.from([Buffer.from(stdin)]),
  });
  return { code, stdout, stderr };
}

function tmpRoot(t: { after: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-unit-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('exit codes and messages: 125 for berth errors, 0 for help and success', async (t) => {
  const root = tmpRoot(t);
  const g = ['--root', root, '--config', path.join(root, 'absent.toml')];
  let r = await run([...g, 'images']);
  assert.equal(r.code, 125, 'an explicit --config that does not exist is an error');
  assert.match(r.stderr, /cannot read config file/);
  fs.writeFileSync(path.join(root, 'berth.toml'), 'run_root = "/tmp/x"\nmax_concurrent_downloads = 2\n');
  const gc = ['--root', root, '--config', path.join(root, 'berth.toml')];
  r = await run([...gc, 'images']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'REPOSITORY   TAG   IMAGE ID   CREATED   SIZE\n');
  r = await run([...gc, 'rmi', 'busybox']);
  assert.equal(r.code, EXIT_BERTH_ERROR);
  assert.equal(r.stderr, 'berth: image "busybox:latest" not found locally; try: berth pull busybox:latest\n');
  r = await run([...gc, 'inspect', 'sha256:0123']);
  assert.equal(r.code, 125);
  assert.equal(r.stdout, '[]\n');
  r = await run([...gc, 'frobnicate']);
  assert.equal(r.code, 125);
  assert.equal(r.stderr, "berth: 'frobnicate' is not a berth command\nSee 'berth --help'.\n");
  r = await run([...gc, 'image', 'frob']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /'frob' is not a berth image command\nSee 'berth image --help'/);
  r = await run([...gc, 'tag', 'onlyone']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /"berth tag" requires exactly 2 arguments, got 1/);
  r = await run([...gc, 'pull', 'UPPER/case']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /invalid image reference "UPPER\/case": repository name must be lowercase/);
  r = await run([...gc, 'save', '--format', 'zip', 'x']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /want one of docker, oci/);
  r = await run([]);
  assert.equal(r.code, 125, 'no command: usage and 125');
  assert.match(r.stdout, /^Usage:/);
  assert.equal((await run(['--version'])).stdout, 'berth version 0.1.0\n');
  fs.writeFileSync(path.join(root, 'bad.toml'), 'rooot = "/x"\n');
  r = await run(['--root', root, '--config', path.join(root, 'bad.toml'), 'images']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /bad\.toml: rooot: unknown key/);
  fs.writeFileSync(path.join(root, 'root.toml'), `root = "${path.join(root, 'fromfile')}"\n`);
  r = await run(['--config', path.join(root, 'root.toml'), 'version', '--format', 'json']);
  assert.equal((JSON.parse(r.stdout) as { Root: string }).Root, path.join(root, 'fromfile'), 'config file sets the root');
  r = await run(['--config', path.join(root, 'root.toml'), '--root', '/flag/wins', 'version', '--format', 'json']);
  assert.equal((JSON.parse(r.stdout) as { Root: string }).Root, '/flag/wins');
});

test('--filter: key=value, repeated keys OR-ed, unknown keys refused', () => {
  const f = parseFilters(['reference=a*', 'reference=b', 'dangling=true'], ['reference', 'dangling']);
  assert.deepEqual(f.get('reference'), ['a*', 'b']);
  assert.equal(filterBool('dangling', f.get('dangling')![0]!), true);
  assert.throws(() => parseFilters(['label'], ['reference']), /expected name=value/);
  assert.throws(() => parseFilters(['label=x'], ['reference', 'dangling']), /invalid filter "label" \(supported: reference, dangling\)/);
  assert.throws(() => filterBool('dangling', 'maybe'), /want true or false/);
});

test('tables: docker padding, no borders, last column unpadded', () => {
  const t = renderTable(['REPOSITORY', 'TAG', 'SIZE'], [
    ['busybox', 'latest', '4.26MB'],
    ['quay.io/a/longer-name', '1', '12kB'],
  ]);
  assert.equal(
    t,
    'REPOSITORY              TAG      SIZE\n' + 'busybox                 latest   4.26MB\n' + 'quay.io/a/longer-name   1        12kB\n',
  );
  assert.equal(renderTable(['A', 'B'], []), 'A   B\n');
});

test('sizes: docker units, base 1000, 3 significant digits', () => {
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(1000), '1kB');
  assert.equal(humanSize(1234), '1.23kB');
  assert.equal(humanSize(1_230_000), '1.23MB');
  assert.equal(humanSize(12_345_678), '12.3MB');
  assert.equal(humanSize(123_456_789), '123MB');
  assert.equal(humanSize(4_260_000), '4.26MB');
  assert.equal(humanSize(999_999), '1MB', 'rounding carries into the next unit');
  assert.equal(humanSize(2.5e9), '2.5GB');
  assert.equal(humanSize(1234, 4), '1.234kB');
  assert.equal(shortId('sha256:0123456789abcdef0123'), '0123456789ab');
});

test('times: docker wording', () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1 * s), '1 second');
  assert.equal(humanDuration(45 * s), '45 seconds');
  assert.equal(humanDuration(61 * s), 'About a minute');
  assert.equal(humanDuration(3 * m), '3 minutes');
  assert.equal(humanDuration(h + 5 * m), 'About an hour');
  assert.equal(humanDuration(5 * h), '5 hours');
  assert.equal(humanDuration(47 * h), '47 hours');
  assert.equal(humanDuration(3 * d), '3 days');
  assert.equal(humanDuration(20 * d), '2 weeks');
  assert.equal(humanDuration(90 * d), '3 months');
  assert.equal(humanDuration(800 * d), '2 years');
  const now = Date.parse('2024-01-01T12:00:00Z');
  assert.equal(timeAgo('2024-01-01T11:57:00Z', now), '3 minutes ago');
  assert.equal(timeAgo('2024-01-01T11:00:00Z', now), 'About an hour ago');
  assert.equal(timeAgo(undefined, now), 'N/A');
  assert.equal(timeAgo('garbage', now), 'N/A');
});

test('--format: json array, templates, {{json .}} lines, table templates', () => {
  const rows = [
    { Repository: 'busybox', Tag: 'latest', Size: '4.26MB' },
    { Repository: 'alpine', Tag: '3', Size: '7MB' },
  ];
  const columns = [
    { field: 'Repository', header: 'REPOSITORY' },
    { field: 'Tag', header: 'TAG' },
  ];
  assert.equal(formatRows(rows, { columns }, renderTable), 'REPOSITORY   TAG\nbusybox      latest\nalpine       3\n');
  assert.deepEqual(JSON.parse(formatRows(rows, { columns, format: 'json' }, renderTable)), rows);
  assert.equal(formatRows(rows, { columns, format: '{{.Repository}}:{{.Tag}}' }, renderTable), 'busybox:latest\nalpine:3\n');
  const lines = formatRows(rows, { columns, format: '{{json .}}' }, renderTable).trim().split('\n');
  assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), rows);
  assert.equal(formatRows(rows, { columns, format: '{{json .Tag}}' }, renderTable), '"latest"\n"3"\n');
  assert.equal(formatRows(rows, { columns, format: 'table {{.Repository}}\\t{{.Size}}' }, renderTable), 'REPOSITORY   SIZE\nbusybox      4.26MB\nalpine       7MB\n');
  assert.equal(formatRows(rows, { columns, format: '{{.Repository}}\\t{{.Tag}}' }, renderTable), 'busybox\tlatest\nalpine\t3\n');
  assert.throws(() => formatRows(rows, { columns, format: '{{.Nope}}' }, renderTable), /no field "Nope"/);
  assert.throws(() => parseTemplate('{{range .}}x{{end}}'), /unsupported template action/);
});

test('progress bar and layer lines', () => {
  assert.equal(progressBar(0, 100, 10), '[>         ]');
  assert.equal(progressBar(50, 100, 10), '[=====>    ]');
  assert.equal(progressBar(100, 100, 10), '[==========]');
  const id = `sha256:${'ab'.repeat(32)}`;
  assert.equal(layerLine({ id, state: 'downloading', current: 12_300_000, total: 45_600_000 }), `abababababab: Downloading [==========>                             ]  12.3MB/45.6MB`);
  assert.equal(layerLine({ id, state: 'complete' }), 'abababababab: Pull complete');
  assert.equal(layerLine({ id, state: 'exists' }), 'abababababab: Already exists');
  assert.equal(layerLine({ id, state: 'error', error: 'boom' }), 'abababababab: Error: boom');
});

test('progress on a terminal: lines redrawn in place with cursor movement', () => {
  let out = '';
  const v = new ProgressView({ write: (s: string) => (out += s) }, { tty: true });
  const a = `sha256:${'a'.repeat(64)}`;
  const b = `sha256:${'b'.repeat(64)}`;
  v.message('1: Pulling from test/busy');
  v.update({ id: a, state: 'downloading', current: 0, total: 1000 });
  v.update({ id: b, state: 'downloading', current: 0, total: 2000 });
  const frame1 = out;
  assert.equal(frame1, `1: Pulling from test/busy\n${layerLine({ id: a, state: 'downloading', current: 0, total: 1000 })}\n${layerLine({ id: b, state: 'downloading', current: 0, total: 2000 })}\n`);
  out = '';
  v.update({ id: a, state: 'downloading', current: 500, total: 1000 });
  // layer a is 2 lines above the cursor: up 2, clear, text, down 2
  assert.equal(out, `\x1b[2A\r\x1b[2K${layerLine({ id: a, state: 'downloading', current: 500, total: 1000 })}\x1b[2B\r`);
  out = '';
  v.update({ id: b, state: 'complete' });
  assert.equal(out, `\x1b[1A\r\x1b[2Kbbbbbbbbbbbb: Pull complete\x1b[1B\r`);
  out = '';
  v.update({ id: b, state: 'complete' });
  assert.equal(out, '', 'unchanged lines are not redrawn');
  v.message('Digest: sha256:x');
  out = '';
  v.update({ id: a, state: 'complete' });
  assert.equal(out, `\x1b[3A\r\x1b[2Kaaaaaaaaaaaa: Pull complete\x1b[3B\r`, 'messages below count');
  // narrow terminal: lines cut so they never wrap
  let narrow = '';
  const n = new ProgressView({ write: (s: string) => (narrow += s) }, { tty: true, columns: 40 });
  n.update({ id: a, state: 'downloading', current: 1, total: 10 });
  assert.ok(narrow.split('\n')[0]!.length < 40);
});

test('progress elsewhere: one plain line per state change', () => {
  let out = '';
  const v = new ProgressView({ write: (s: string) => (out += s) }, { tty: false });
  const a = `sha256:${'c'.repeat(64)}`;
  for (const cur of [0, 100, 200, 1000]) v.update({ id: a, state: 'downloading', current: cur, total: 1000 });
  v.update({ id: a, state: 'verifying' });
  v.update({ id: a, state: 'extracting' });
  v.update({ id: a, state: 'complete' });
  assert.equal(out, 'cccccccccccc: Downloading 1kB\ncccccccccccc: Verifying Checksum\ncccccccccccc: Extracting\ncccccccccccc: Pull complete\n');
  assert.ok(!out.includes('\x1b'));
});

test('pull events map to layer states', () => {
  const base = { kind: 'layer' as const, id: 'sha256:x', index: 0, current: 1, total: 2 };
  assert.equal(pullEventToUpdate({ ...base, state: 'downloading' }, true)?.state, 'downloading');
  assert.equal(pullEventToUpdate({ ...base, state: 'done' }, true)?.state, 'extracting');
  assert.equal(pullEventToUpdate({ ...base, state: 'done' }, false)?.state, 'downloaded');
  assert.equal(pullEventToUpdate({ ...base, state: 'exists' }, true)?.state, 'exists');
  assert.equal(pullEventToUpdate({ ...base, state: 'error', error: 'x' }, true)?.error, 'x');
  assert.equal(pullEventToUpdate({ ...base, kind: 'config', state: 'done' }, true), undefined);
});

test('bash completion: generated from the table, valid bash, matches contrib/', () => {
  const script = bashCompletion();
  for (const c of COMMANDS) for (const n of namesOf(c)) assert.ok(script.includes(`'${n}'`), n);
  assert.ok(script.includes('complete -F _berth berth'));
  assert.ok(script.includes("'image save --format') COMPREPLY=($(compgen -W 'docker oci'"));
  const r = spawnSync('bash', ['-n'], { input: script });
  assert.equal(r.status, 0, r.stderr.toString());
  // completing in a real bash: commands, subcommands, flags
  const complete = (line: string): string[] => {
    const words = line.split(' ');
    const prog = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _berth; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const out = spawnSync('bash', ['-c', prog], { encoding: 'utf8' });
    return out.stdout.split('\n').filter((x) => x !== '');
  };
  assert.deepEqual(complete('berth pu'), ['pull', 'push']);
  assert.ok(complete('berth image p').includes('prune'));
  assert.deepEqual(complete('berth --root /x images --dig'), ['--digests']);
  assert.deepEqual(complete('berth save --format '), ['docker', 'oci']);
  const contrib = path.resolve(__dirname, '..', '..', '..', 'contrib', 'completion', 'berth.bash');
  assert.equal(fs.readFileSync(contrib, 'utf8'), script, 'contrib/completion/berth.bash is stale: regenerate with bin/berth completion bash');
});
