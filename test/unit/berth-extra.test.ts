import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { binarySize, cpuPercent, filterPsOutput, renderEventTemplate, splitCpArg, volumeJson } from '../../src/cli/berth/container-extra';
import { openTerminal } from '../../src/cli/berth/terminal';

test('cp arguments: CONTAINER:PATH or a local path, as docker splits them', () => {
  assert.deepEqual(splitCpArg('web:/etc/passwd'), { container: 'web', path: '/etc/passwd' });
  assert.deepEqual(splitCpArg('web:'), { container: 'web', path: '' });
  assert.equal(splitCpArg('/tmp/a:b'), null, 'absolute: local');
  assert.equal(splitCpArg('./a:b'), null, 'relative with ./: local');
  assert.equal(splitCpArg('dir/a:b'), null, 'a slash before the colon: local');
  assert.equal(splitCpArg('file.txt'), null);
  assert.equal(splitCpArg('-'), null);
});

test('top: the rows of the container pids, the last column kept whole', () => {
  const ps = 'UID          PID    PPID  C STIME TTY          TIME CMD\nroot           1       0  0 08:00 ?        00:00:01 /sbin/init splash\nroot         100       1  0 08:01 ?        00:00:00 sleep 1000\nroot         200     100  0 08:01 pts/0    00:00:00 sh -c echo a   b\n';
  const r = filterPsOutput(ps, new Set([100, 200]));
  assert.deepEqual(r.titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
  assert.deepEqual(r.rows.map((x) => x[1]), ['100', '200']);
  assert.equal(r.rows[1]![7], 'sh -c echo a b');
  assert.throws(() => filterPsOutput('USER COMMAND\nroot x\n', new Set([1])), /PID field/);
});

test('stats figures: binary sizes, CPU % over wall time', () => {
  assert.equal(binarySize(0), '0B');
  assert.equal(binarySize(1536), '1.5KiB');
  assert.equal(binarySize(64 * 1024 * 1024), '64MiB');
  assert.equal(binarySize(316 * 1024), '316KiB');
  assert.equal(binarySize(25.3 * 1024 ** 3), '25.3GiB');
  assert.equal(cpuPercent(undefined, { atNs: 1n, cpuNs: 5 }), 0);
  assert.equal(cpuPercent({ atNs: 0n, cpuNs: 0 }, { atNs: 1_000_000_000n, cpuNs: 500_000_000 }), 50);
  assert.equal(cpuPercent({ atNs: 0n, cpuNs: 0 }, { atNs: 1_000_000_000n, cpuNs: 2_000_000_000 }), 200, 'two cores busy');
});

test('event templates: nested fields, json, errors', () => {
  const o = { Action: 'die', Actor: { ID: 'abc', Attributes: { name: 'web', exitCode: '3' } } };
  assert.equal(renderEventTemplate('{{.Action}} {{.Actor.Attributes.exitCode}}\\t{{json .Actor.Attributes}}', o), 'die 3\t{"name":"web","exitCode":"3"}');
  assert.equal(renderEventTemplate('{{.Missing}}', o), '<no value>');
  assert.throws(() => renderEventTemplate('{{if .Action}}x{{end}}', o), /unsupported template action/);
});

test('volume inspect shape is docker\'s', () => {
  const j = volumeJson({ version: 1, name: 'v', driver: 'local', createdAt: 'T', labels: { a: 'b' }, options: {}, anonymous: false, populated: true, mountpoint: '/m' });
  assert.deepEqual(Object.keys(j), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
});

test('openTerminal: raw mode, filtered input, size changes, detach keys, restored on close', async () => {
  const stdin = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode: (b: boolean) => void };
  const modes: boolean[] = [];
  stdin.isTTY = true;
  stdin.setRawMode = (b) => void modes.push(b);
  const stdout = new PassThrough() as PassThrough & { isTTY: boolean; getWindowSize: () => [number, number] };
  stdout.isTTY = true;
  let size: [number, number] = [80, 24];
  stdout.getWindowSize = () => size;
  const proc = new EventEmitter();
  const term = openTerminal({ stdin, stdout, tty: true, openStdin: true, proc });
  assert.deepEqual(modes, [true]);
  assert.deepEqual(term.size(), { width: 80, height: 24 });
  const sizes: { width: number; height: number }[] = [];
  term.resize!.onResize((s) => sizes.push(s));
  size = [100, 40];
  proc.emit('SIGWINCH');
  assert.deepEqual(sizes, [{ width: 100, height: 40 }]);
  const got: Buffer[] = [];
  term.input!.on('data', (d: Buffer) => got.push(d));
  let detached = false;
  void term.detached.then(() => (detached = true));
  stdin.write('ls\r\x10');
  stdin.write('\x11after');
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(got).toString(), 'ls\r');
  assert.equal(detached, true);
  assert.deepEqual(modes, [true, false], 'restored at the detach');
  term.close();
  assert.equal(proc.listenerCount('SIGWINCH'), 0);
  assert.equal(proc.listenerCount('exit'), 0);
  assert.equal(stdin.listenerCount('data'), 0);
});
