import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { berthdPorts, listBerthd, findBerthd } from '../../src/engine/berthd';
import { Engine } from '../../src/engine/engine';
import { BerthError } from '../../src/runtime/errors';

test("berthd's containers: listed read-only, marked, and refused for changes", async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-berthd-'));
  try {
    const root = path.join(base, 'root');
    const runRoot = path.join(base, 'run');
    const id = '5'.repeat(64);
    const dir = path.join(root, 'containers', id);
    fs.mkdirSync(dir, { recursive: true });
    const meta = {
      version: 1, id, podId: 'p'.repeat(64), phase: 'started', metadata: { name: 'nginx', attempt: 0 }, image: 'docker.io/library/nginx:1', imageId: 'sha256:' + 'a'.repeat(64),
      imageRef: '', createdAt: String(BigInt(Date.parse('2026-01-01T00:00:00Z')) * 1_000_000n), startedAt: '0', labels: { app: 'x' }, annotations: {}, logPath: '', mounts: [],
      tty: false, stdin: false, stdinOnce: false, pid: 0, pidStartTime: '', monitorPid: 0, stopSignal: 15, snapshotKey: 'k', rootfs: '/r', cgroupsPath: '/berth/x', runtimeHandler: '', user: { uid: 0, gid: 0, additionalGids: [] },
    };
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
    const exitDir = path.join(runRoot, 'c', id);
    fs.mkdirSync(path.join(exitDir, 'bundle'), { recursive: true });
    fs.writeFileSync(path.join(exitDir, 'bundle', 'config.json'), JSON.stringify({ process: { args: ['nginx', '-g', 'daemon off;'] } }));
    fs.writeFileSync(path.join(exitDir, 'exit'), JSON.stringify({ pid: 1, exitCode: 2, signal: null, coreDumped: false, exitedAt: '2026-01-01T00:01:00Z', createFailed: false }));
    const before = fs.readdirSync(root).sort();
    const list = await listBerthd({ root, runRoot });
    assert.equal(list.length, 1);
    assert.equal(list[0]!.createdBy, 'berthd');
    assert.equal(list[0]!.name, 'nginx');
    assert.equal(list[0]!.command, "nginx -g 'daemon off;'");
    assert.equal(findBerthd({ root, runRoot }, 'nginx')?.id, id);
    assert.equal(findBerthd({ root, runRoot }, '5555')?.id, id);

    const engine = new Engine({ root, runRoot, hostsDir: path.join(base, 'certs') });
    const ps = await engine.list({ all: true });
    assert.equal(ps.length, 1);
    assert.equal(ps[0]!.state, 'exited');
    assert.equal(ps[0]!.exitCode, 2);
    assert.equal((await engine.list({ all: false })).length, 0);
    assert.throws(() => engine.resolve('nginx'), (e: unknown) => e instanceof BerthError && e.code === 'FAILED_PRECONDITION' && /made by berthd \(CRI\)/.test(e.message));
    assert.throws(() => engine.resolve('other'), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND' && /No such container: other/.test(e.message));
    // berthd's store is untouched
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')), meta);
    assert.ok(before.every((n) => fs.existsSync(path.join(root, n))));
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test("berthd's ready pods' host ports count as taken", () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-berthd-ports-'));
  try {
    const pods = path.join(base, 'pods');
    const pod = (id: string, phase: string, portMappings: unknown[]): void => {
      fs.mkdirSync(path.join(pods, id), { recursive: true });
      fs.writeFileSync(path.join(pods, id, 'meta.json'), JSON.stringify({ id, phase, portMappings }));
    };
    pod('a'.repeat(64), 'ready', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }, { hostPort: 0, containerPort: 81, protocol: 'tcp' }]);
    pod('b'.repeat(64), 'stopped', [{ hostPort: 9090, containerPort: 90, protocol: 'udp' }]);
    assert.deepEqual(berthdPorts({ root: base, runRoot: base }), [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
