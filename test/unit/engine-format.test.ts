import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandColumn, commandText, portLines, portText, psRow, statusText } from '../../src/engine/format';
import { checkName, generateName } from '../../src/engine/names';
import { RecordStore, findRecord } from '../../src/engine/store';
import { assignPorts } from '../../src/engine/ports';
import { resolveRuntime } from '../../src/engine/runtime';
import { checkOverlay, commandFailure, signalNumberOf } from '../../src/engine/engine';
import { streamLogs } from '../../src/engine/logs';
import { renderPathTemplate, signalNumber } from '../../src/cli/berth/container';
import { renderTable } from '../../src/cli/common/table';
import { BerthError } from '../../src/runtime/errors';
import type { ContainerRecord, ContainerSummary } from '../../src/engine/types';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const ago = (ms: number): string => new Date(NOW - ms).toISOString();

function summary(over: Partial<ContainerSummary>): ContainerSummary {
  return {
    id: 'a'.repeat(64),
    name: 'web',
    image: 'busy:1',
    imageId: 'sha256:' + 'b'.repeat(64),
    command: 'httpd -f -p 80 -h /www',
    created: ago(5 * 60_000),
    state: 'running',
    status: '',
    ports: [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    labels: { a: 'b' },
    exitCode: null,
    startedAt: ago(3 * 60_000),
    finishedAt: '',
    createdBy: 'berth',
    pid: 1,
    ...over,
  };
}

test('status column as docker prints it', () => {
  assert.equal(statusText(summary({}), NOW), 'Up 3 minutes');
  assert.equal(statusText(summary({ state: 'exited', exitCode: 3, finishedAt: ago(2000) }), NOW), 'Exited (3) 2 seconds ago');
  assert.equal(statusText(summary({ state: 'exited', exitCode: 0, finishedAt: ago(90 * 60_000) }), NOW), 'Exited (0) About an hour ago');
  assert.equal(statusText(summary({ state: 'created' }), NOW), 'Created');
  assert.equal(statusText(summary({ state: 'running', startedAt: ago(200) }), NOW), 'Up Less than a second');
});

test('ports, command column, ps rows and the aligned table', () => {
  assert.equal(portText({ hostIp: '', hostPort: 80, containerPort: 8080, protocol: 'udp' }), '0.0.0.0:80->8080/udp');
  assert.equal(portText({ hostIp: '::1', hostPort: 80, containerPort: 80, protocol: 'tcp' }), '[::1]:80->80/tcp');
  const ports = [
    { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' as const },
    { hostIp: '', hostPort: 5353, containerPort: 53, protocol: 'udp' as const },
  ];
  assert.deepEqual(portLines(ports), ['80/tcp -> 127.0.0.1:8080', '53/udp -> 0.0.0.0:5353']);
  assert.deepEqual(portLines(ports, '53/udp'), ['0.0.0.0:5353']);
  assert.deepEqual(portLines(ports, '80'), ['127.0.0.1:8080']);
  assert.equal(commandText(['sh', '-c', "echo 'hi' there"]), `sh -c 'echo '\\''hi'\\'' there'`);
  assert.equal(commandColumn('httpd -f -p 80 -h /www', false), '"httpd -f -p 80 -h /…"');
  assert.equal(commandColumn('true', false), '"true"');
  const row = psRow(summary({}), false, NOW);
  assert.equal(row['ID'], 'a'.repeat(12));
  assert.equal(row['RunningFor'], '5 minutes ago');
  assert.equal(row['Ports'], '127.0.0.1:8080->80/tcp');
  assert.equal(psRow(summary({ createdBy: 'berthd', name: 'k8s_x' }), true, NOW)['Names'], 'k8s_x (cri)');
  const table = renderTable(['CONTAINER ID', 'NAMES'], [['abc', 'web'], ['abcdef123456', 'x']]);
  const lines = table.trimEnd().split('\n');
  assert.equal(lines[0]!.indexOf('NAMES'), lines[1]!.indexOf('web'));
  assert.equal(lines[1]!.indexOf('web'), lines[2]!.indexOf('x'));
});

test('names: docker\'s rule, generated names avoid taken ones', () => {
  assert.equal(checkName('a_b.c-d'), 'a_b.c-d');
  assert.throws(() => checkName('-x'), /invalid container name/);
  assert.throws(() => checkName('a b'), /invalid container name/);
  const taken = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const n = generateName((x) => taken.has(x));
    assert.ok(!taken.has(n));
    assert.match(n, /^[a-z]+_[a-z]+\d*$|^berth_\d+$/);
    taken.add(n);
  }
});

function rec(id: string, name: string, phase: ContainerRecord['phase'] = 'created'): ContainerRecord {
  return {
    version: 1, id, containerId: '', podId: '', name, phase, created: new Date().toISOString(), image: 'i', imageId: 'sha256:x',
    options: { image: 'i', command: [], name, detach: false, interactive: false, tty: false, autoRemove: false, env: [], mounts: [], ports: [], network: 'bridge', labels: {}, capAdd: [], capDrop: [], privileged: false, readOnly: false, seccomp: { kind: 'default' }, noNewPrivileges: false, pull: 'missing', restart: { name: 'no', maximumRetryCount: 0 }, init: false },
    runtime: { kind: 'berth' }, volumes: [], restartCount: 0, stoppedByUser: false, startedAt: '', lastExit: null, logPath: '/l', argv: ['sh'],
  };
}

test('record store: save, load, lookups by id, name and prefix; creating records are invisible', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-store-'));
  try {
    const store = new RecordStore(dir);
    const a = rec('ab'.padEnd(64, '1'), 'alpha');
    const b = rec('ac'.padEnd(64, '2'), 'beta');
    const c = rec('ad'.padEnd(64, '3'), 'gamma', 'creating');
    for (const r of [a, b, c]) await store.save(r);
    fs.writeFileSync(path.join(dir, `${'e'.repeat(64)}.json`), '{torn');
    const bad: string[] = [];
    const all = store.loadAll((f) => bad.push(f));
    assert.equal(all.length, 3);
    assert.equal(bad.length, 1);
    assert.equal(findRecord(all, 'alpha')?.id, a.id);
    assert.equal(findRecord(all, '/beta')?.id, b.id);
    assert.equal(findRecord(all, 'ab')?.id, a.id);
    assert.equal(findRecord(all, b.id)?.name, 'beta');
    assert.equal(findRecord(all, 'gamma'), undefined);
    assert.throws(() => findRecord(all, 'a'), /multiple containers/);
    await store.remove(a.id);
    assert.equal(findRecord(store.loadAll(), 'alpha'), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ports: conflicts with other containers and the host, ephemeral ports assigned', async () => {
  const free = async (): Promise<number | null> => 4242;
  const taken = async (): Promise<number | null> => null;
  const want = { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' as const };
  assert.deepEqual(await assignPorts([want], [], free), [want]);
  await assert.rejects(assignPorts([want], [{ ...want, hostIp: '127.0.0.1' }], free), /already allocated/);
  await assert.rejects(assignPorts([want], [], taken), /already in use on the host/);
  assert.deepEqual(await assignPorts([want], [{ ...want, protocol: 'udp' }], free), [want]);
  const eph = await assignPorts([{ ...want, hostPort: 0 }], [], free);
  assert.equal(eph[0]!.hostPort, 4242);
});

test('runtime: berth by default, OCI binaries on PATH or by path', () => {
  assert.deepEqual(resolveRuntime(undefined), { kind: 'berth' });
  assert.deepEqual(resolveRuntime('berth'), { kind: 'berth' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-rt-'));
  try {
    fs.writeFileSync(path.join(dir, 'myrt'), '#!/bin/sh\n', { mode: 0o755 });
    assert.deepEqual(resolveRuntime('myrt', dir), { kind: 'oci', name: 'myrt', binary: path.join(dir, 'myrt') });
    assert.deepEqual(resolveRuntime(path.join(dir, 'myrt'), ''), { kind: 'oci', name: 'myrt', binary: path.join(dir, 'myrt') });
    assert.throws(() => resolveRuntime('nope', dir), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('exec failures map to 127 and 126 (berth-init and runc words)', () => {
  assert.equal(commandFailure(new Error('berth-init: exec nosuch: not found in PATH /bin: No such file or directory'))?.exitCode, 127);
  assert.equal(commandFailure(new Error('runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH'))?.exitCode, 127);
  assert.equal(commandFailure(new Error('berth-init: exec /etc/passwd: Permission denied'))?.exitCode, 126);
  assert.equal(commandFailure(new Error('mount failed')), undefined);
});

test('signals by name and number', () => {
  assert.equal(signalNumber('KILL'), 9);
  assert.equal(signalNumber('SIGTERM'), 15);
  assert.equal(signalNumber('hup'), 1);
  assert.equal(signalNumber('10'), 10);
  assert.throws(() => signalNumber('NOPE'), /invalid signal/);
});

test('inspect templates over nested fields', () => {
  const doc = { Id: 'x', State: { Status: 'running', Pid: 4 }, Config: { Env: ['A=1'] }, Nil: null };
  assert.equal(renderPathTemplate('{{.State.Status}} {{.State.Pid}}', doc), 'running 4');
  assert.equal(renderPathTemplate('{{json .Config.Env}}', doc), '["A=1"]');
  assert.equal(renderPathTemplate('{{.Nil}}', doc), '<no value>');
  assert.throws(() => renderPathTemplate('{{.State.Nope}}', doc), /can't evaluate field Nope/);
  assert.throws(() => renderPathTemplate('{{range .X}}', doc), /unsupported template action/);
});

test('logs: streams split, --tail, -t timestamps, partial lines joined', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-logs-'));
  try {
    const file = path.join(dir, 'c.log');
    fs.writeFileSync(
      file,
      [
        '2026-01-01T00:00:01.000000000Z stdout F one',
        '2026-01-01T00:00:02.000000000Z stderr F err',
        '2026-01-01T00:00:03.000000000Z stdout P tw',
        '2026-01-01T00:00:03.500000000Z stdout F o',
        '2026-01-01T00:00:04.000000000Z stdout F three',
        '',
      ].join('\n'),
    );
    const out: string[] = [];
    const err: string[] = [];
    const sink = (a: string[]) => ({ write: (b: Uint8Array | string) => a.push(Buffer.from(b).toString()) });
    await streamLogs(file, { timestamps: false, follow: false, stdout: sink(out), stderr: sink(err) });
    assert.equal(out.join(''), 'one\ntwo\nthree\n');
    assert.equal(err.join(''), 'err\n');
    const tail: string[] = [];
    await streamLogs(file, { tail: 2, timestamps: true, follow: false, stdout: sink(tail), stderr: sink([]) });
    assert.equal(tail.join(''), '2026-01-01T00:00:03.000000000Z two\n2026-01-01T00:00:04.000000000Z three\n');
    const since: string[] = [];
    await streamLogs(file, { sinceNs: BigInt(Date.parse('2026-01-01T00:00:02.5Z')) * 1_000_000n, timestamps: false, follow: false, stdout: sink(since), stderr: sink(since) });
    assert.equal(since.join(''), 'two\nthree\n');
    // follow: picks up appended lines, ends once the container stopped
    const followed: string[] = [];
    let running = true;
    const p = streamLogs(file, { tail: 0, timestamps: false, follow: true, pollMs: 10, running: async () => running, stdout: sink(followed), stderr: sink(followed) });
    await new Promise((r) => setTimeout(r, 50));
    fs.appendFileSync(file, '2026-01-01T00:00:05.000000000Z stdout F four\n');
    await new Promise((r) => setTimeout(r, 50));
    running = false;
    await p;
    assert.equal(followed.join(''), 'four\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--stop-signal names and the overlay check', () => {
  assert.equal(signalNumberOf('SIGUSR1'), 10);
  assert.equal(signalNumberOf('quit'), 3);
  assert.equal(signalNumberOf('15'), 15);
  assert.throws(() => signalNumberOf('BOGUS'), /invalid signal/);
  checkOverlay(() => 'nodev\tproc\nnodev\toverlay\n');
  assert.throws(() => checkOverlay(() => 'nodev\tproc\n\text4\n'), /no overlay filesystem/);
});
