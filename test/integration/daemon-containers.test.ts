/**
 * berthd's CRI containers end to end: a berthd process on temp roots, a busybox image from a local
 * docker-registry, a pod on a test CNI network. Create/start a container that echoes and exits (state,
 * exit code, reason, CRI log), stop with a timeout (stop signal honoured; SIGKILL after the timeout),
 * list filters, unknown ids and bad input, kill -9 of berthd while a container runs (listed RUNNING
 * after the restart, EXITED with its code once it ends), remove (rootfs unmounted, snapshot and
 * records gone). Everything is cleaned up even on failure.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { unary } from '../../src/cri/client';
import type * as cri from '../../src/cri/generated';
import { mountPoints } from '../../src/image/snapshot';
import { ImageService } from '../../src/image/service';
import { parseCriLog } from '../../src/monitor/cri-log';
import { berthdSkip, exited, rejectsWith, setUpBerthd } from '../helpers/berthd';

const skip = berthdSkip();

test('berthd: CRI containers, logs, stop, filters, kill -9 and restart', { skip, timeout: 240_000 }, async (t) => {
  const env = await setUpBerthd(t, 'c', ['sh', 'echo', 'sleep', 'cat', 'ls', 'test', '[']);
  const { root, runRoot, logDir, shared, image, imageName } = env;
  let running = await env.start();
  let { runtime: rt, image: img } = running.clients;
  await unary((cb) => img.PullImage({ image: { image: imageName } }, cb));

  const podCfg: cri.PodSandboxConfig = {
    metadata: { name: 'cpod', uid: 'uid-cpod', namespace: 'berthd-test', attempt: 0 },
    hostname: 'cpod',
    log_directory: logDir,
    linux: { cgroup_parent: env.cgroupParent },
  };
  const pod = (await unary<cri.RunPodSandboxResponse__Output>((cb) => rt.RunPodSandbox({ config: podCfg }, cb))).pod_sandbox_id;

  const create = async (name: string, cfg: Partial<cri.ContainerConfig>, podId = pod): Promise<string> =>
    (
      await unary<cri.CreateContainerResponse__Output>((cb) =>
        rt.CreateContainer(
          {
            pod_sandbox_id: podId,
            config: { metadata: { name }, image: { image: imageName }, log_path: `${name}/0.log`, labels: { name, suite: 'containers' }, ...cfg },
            sandbox_config: podCfg,
          },
          cb,
        ),
      )
    ).container_id;
  const status = async (id: string, verbose = false): Promise<cri.ContainerStatusResponse__Output> =>
    unary<cri.ContainerStatusResponse__Output>((cb) => rt.ContainerStatus({ container_id: id, verbose }, cb));
  const startC = (id: string): Promise<unknown> => unary((cb) => rt.StartContainer({ container_id: id }, cb));
  const waitState = async (id: string, state: string, ms = 15_000): Promise<cri.ContainerStatus__Output> => {
    const end = Date.now() + ms;
    for (;;) {
      const s = (await status(id)).status!;
      if (s.state === state) return s;
      if (Date.now() > end) assert.fail(`container ${id} is ${s.state}, not ${state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const list = async (filter?: cri.ContainerFilter): Promise<string[]> =>
    (await unary<cri.ListContainersResponse__Output>((cb) => rt.ListContainers(filter ? { filter } : {}, cb))).containers.map((c) => c.metadata!.name).sort();

  // ---- a container that echoes and exits
  const echo = await create('echo', {
    command: ['sh', '-c'],
    args: ['echo "hello $GREETING from $(cat /etc/hostname)"; echo oops >&2; exit 3'],
    envs: [{ key: 'GREETING', value: 'world' }],
  });
  assert.match(echo, /^[0-9a-f]{64}$/);
  let s = (await status(echo, true)).status!;
  assert.equal(s.state, 'CONTAINER_CREATED');
  assert.equal(s.log_path, path.join(logDir, 'echo/0.log'));
  await startC(echo);
  s = await waitState(echo, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 3);
  assert.equal(s.reason, 'Error');
  assert.ok(BigInt(s.finished_at) >= BigInt(s.started_at) && BigInt(s.started_at) >= BigInt(s.created_at) && BigInt(s.created_at) > 0n);
  assert.equal(s.image!.image, imageName);
  assert.equal(s.image_id, image.configDesc.digest);
  const log = parseCriLog(fs.readFileSync(path.join(logDir, 'echo/0.log')));
  assert.deepEqual(log.map((l) => [l.stream, l.unterminated, l.message.toString()]).sort(), [['stderr', false, 'oops'], ['stdout', false, 'hello world from cpod']]);
  await rejectsWith(startC(echo), GrpcStatus.FAILED_PRECONDITION);

  // ---- a container that exits 0: Completed; image by ID; a host mount
  const ok = await create('ok', { image: { image: image.configDesc.digest }, command: ['sh', '-c', 'echo done > /shared/out; echo shared-shm > /dev/shm/mark'], mounts: [{ host_path: shared, container_path: '/shared' }] });
  await startC(ok);
  s = await waitState(ok, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 0);
  assert.equal(s.reason, 'Completed');
  assert.equal(fs.readFileSync(path.join(shared, 'out'), 'utf8'), 'done\n');
  assert.deepEqual(s.mounts.map((m) => [m.container_path, m.host_path]), [['/shared', shared]]);
  // the pod's containers share /dev/shm
  const shmReader = await create('shmreader', { command: ['cat', '/dev/shm/mark'] });
  await startC(shmReader);
  assert.equal((await waitState(shmReader, 'CONTAINER_EXITED')).exit_code, 0);
  assert.deepEqual(parseCriLog(fs.readFileSync(path.join(logDir, 'shmreader/0.log'))).map((l) => l.message.toString()), ['shared-shm']);
  await unary((cb) => rt.RemoveContainer({ container_id: shmReader }, cb));

  // ---- a terminal: stdout is a tty (the pty master went to the monitor), output in the log as stdout
  const tty = await create('tty', { tty: true, command: ['sh', '-c', '[ -t 0 ] && [ -t 1 ] && echo on a tty'] });
  await startC(tty);
  s = await waitState(tty, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 0);
  assert.deepEqual(parseCriLog(fs.readFileSync(path.join(logDir, 'tty/0.log'))).map((l) => [l.stream, l.message.toString()]), [['stdout', 'on a tty\r']]);
  await unary((cb) => rt.RemoveContainer({ container_id: tty }, cb));

  // ---- stop: the stop signal is honoured; pid 1 ignoring SIGTERM is killed after the timeout
  const polite = await create('polite', { command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'] });
  const stubborn = await create('stubborn', { command: ['sleep', '1000'] });
  await startC(polite);
  await startC(stubborn);
  await waitState(polite, 'CONTAINER_RUNNING');
  await waitState(stubborn, 'CONTAINER_RUNNING');
  let t0 = Date.now();
  await unary((cb) => rt.StopContainer({ container_id: polite, timeout: 10 }, cb));
  assert.ok(Date.now() - t0 < 5000, 'a container that handles SIGTERM stops at once');
  assert.equal((await status(polite)).status!.exit_code, 0);
  t0 = Date.now();
  await unary((cb) => rt.StopContainer({ container_id: stubborn, timeout: 1 }, cb));
  assert.ok(Date.now() - t0 >= 900, 'the timeout is waited for');
  s = (await status(stubborn)).status!;
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 137);
  await unary((cb) => rt.StopContainer({ container_id: stubborn, timeout: 1 }, cb)); // idempotent

  // ---- list filters
  const created = await create('idle', { command: ['sleep', '1000'] });
  assert.deepEqual(await list(), ['echo', 'idle', 'ok', 'polite', 'stubborn']);
  assert.deepEqual(await list({ state: { state: 'CONTAINER_CREATED' } }), ['idle']);
  assert.deepEqual(await list({ state: { state: 'CONTAINER_EXITED' } }), ['echo', 'ok', 'polite', 'stubborn']);
  assert.deepEqual(await list({ id: echo.slice(0, 10) }), ['echo']);
  assert.deepEqual(await list({ label_selector: { name: 'ok' } }), ['ok']);
  assert.deepEqual(await list({ pod_sandbox_id: pod }), ['echo', 'idle', 'ok', 'polite', 'stubborn']);
  assert.deepEqual(await list({ pod_sandbox_id: 'f'.repeat(64) }), []);

  // ---- unknown ids and bad input
  const ghost = 'f'.repeat(64);
  await rejectsWith(status(ghost), GrpcStatus.NOT_FOUND);
  await rejectsWith(startC(ghost), GrpcStatus.NOT_FOUND);
  await unary((cb) => rt.StopContainer({ container_id: ghost, timeout: 1 }, cb));
  await unary((cb) => rt.RemoveContainer({ container_id: ghost }, cb));
  await rejectsWith(create('x', {}, ghost), GrpcStatus.NOT_FOUND);
  await rejectsWith(create('x', { image: { image: 'mirror.berth.test/none:1' } }), GrpcStatus.NOT_FOUND);
  await rejectsWith(create('', {}), GrpcStatus.INVALID_ARGUMENT, /metadata\.name/);
  await rejectsWith(create('echo', {}), GrpcStatus.ALREADY_EXISTS);
  await rejectsWith(create('badcap', { linux: { security_context: { capabilities: { add_capabilities: ['CAP_NOPE'] } } } }), GrpcStatus.INVALID_ARGUMENT, /CAP_NOPE/);
  await rejectsWith(create('nocmd', { command: ['/no/such/binary'] }), GrpcStatus.NOT_FOUND, /no\/such\/binary/);
  assert.deepEqual(await list(), ['echo', 'idle', 'ok', 'polite', 'stubborn'], 'failed creates leave nothing behind');
  assert.equal(fs.readdirSync(path.join(root, 'containers')).length, 5);
  const runIds = (): string[] => fs.readdirSync(path.join(runRoot, 'c')).filter((x) => /^[0-9a-f]{64}$/.test(x));
  assert.equal(runIds().length, 5);

  // ---- kill -9 berthd while a container runs; it ends while berthd is down or after the restart
  const waiter = await create('waiter', {
    command: ['sh', '-c', 'echo started; while [ ! -e /shared/go ]; do sleep 0.1; done; echo bye; exit 7'],
    mounts: [{ host_path: shared, container_path: '/shared' }],
  });
  await startC(waiter);
  await waitState(waiter, 'CONTAINER_RUNNING');
  running.clients.close();
  running.child.kill('SIGKILL');
  await exited(running.child);
  running = await env.start();
  ({ runtime: rt, image: img } = running.clients);
  assert.equal((await status(waiter)).status!.state, 'CONTAINER_RUNNING');
  assert.deepEqual(await list({ state: { state: 'CONTAINER_RUNNING' } }), ['waiter']);
  assert.deepEqual(await list({ state: { state: 'CONTAINER_CREATED' } }), ['idle']);
  // ends while berthd is down
  running.clients.close();
  running.child.kill('SIGKILL');
  await exited(running.child);
  fs.writeFileSync(path.join(shared, 'go'), '');
  // a CreateContainer that a crash interrupted (record 'creating'), and run files with no record
  const half = 'e'.repeat(64);
  const waiterMeta = JSON.parse(fs.readFileSync(path.join(root, 'containers', waiter, 'meta.json'), 'utf8')) as Record<string, unknown>;
  fs.mkdirSync(path.join(root, 'containers', half));
  fs.writeFileSync(path.join(root, 'containers', half, 'meta.json'), JSON.stringify({ ...waiterMeta, id: half, phase: 'creating', pid: 0, monitorPid: 0, metadata: { name: 'half', attempt: 0 }, snapshotKey: `berthd/container/${half}` }));
  const orphan = 'd'.repeat(64);
  fs.mkdirSync(path.join(runRoot, 'c', orphan, 'bundle'), { recursive: true });
  await new Promise((r) => setTimeout(r, 500));
  running = await env.start();
  assert.equal(fs.existsSync(path.join(root, 'containers', half)), false, 'a half-made container is undone at start');
  assert.equal(fs.existsSync(path.join(runRoot, 'c', orphan)), false, 'run files without a record are removed at start');
  ({ runtime: rt, image: img } = running.clients);
  s = await waitState(waiter, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 7);
  const wlog = parseCriLog(fs.readFileSync(path.join(logDir, 'waiter/0.log'))).map((l) => l.message.toString());
  assert.deepEqual(wlog, ['started', 'bye']);
  // the idle container can still be started after the restart
  await startC(created);
  await waitState(created, 'CONTAINER_RUNNING');

  // ---- log rotation (ReopenContainerLog) and UpdateContainerResources on a running container
  const talker = await create('talker', { command: ['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done'] });
  await startC(talker);
  await waitState(talker, 'CONTAINER_RUNNING');
  const tlog = path.join(logDir, 'talker/0.log');
  for (let i = 0; i < 100 && !(fs.existsSync(tlog) && fs.statSync(tlog).size > 0); i++) await new Promise((r) => setTimeout(r, 50));
  fs.renameSync(tlog, `${tlog}.1`);
  await unary((cb) => rt.ReopenContainerLog({ container_id: talker }, cb));
  for (let i = 0; i < 100 && !(fs.existsSync(tlog) && fs.statSync(tlog).size > 0); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(parseCriLog(fs.readFileSync(tlog))[0]!.message.toString(), /^line\d+$/, 'the reopened log gets the new lines');
  assert.ok(parseCriLog(fs.readFileSync(`${tlog}.1`)).length > 0);
  await rejectsWith(unary((cb) => rt.ReopenContainerLog({ container_id: echo }, cb)), GrpcStatus.FAILED_PRECONDITION);
  await rejectsWith(unary((cb) => rt.ReopenContainerLog({ container_id: ghost }, cb)), GrpcStatus.NOT_FOUND);
  await unary((cb) => rt.UpdateContainerResources({ container_id: talker, linux: { memory_limit_in_bytes: 64 * 1024 * 1024 } }, cb));
  const memFile = path.join('/sys/fs/cgroup/memory', env.cgroupParent, talker, 'memory.limit_in_bytes');
  if (fs.existsSync(memFile)) assert.equal(fs.readFileSync(memFile, 'utf8').trim(), String(64 * 1024 * 1024));

  // ---- remove: one container, then the pod takes the rest with it
  await unary((cb) => rt.RemoveContainer({ container_id: echo }, cb));
  await unary((cb) => rt.RemoveContainer({ container_id: echo }, cb));
  await rejectsWith(status(echo), GrpcStatus.NOT_FOUND);
  assert.equal(fs.existsSync(path.join(root, 'containers', echo)), false);
  assert.equal(fs.existsSync(path.join(runRoot, 'c', echo)), false);
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: pod }, cb));
  assert.equal((await status(created)).status!.state, 'CONTAINER_EXITED', 'StopPodSandbox stops the containers');
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: pod }, cb));
  assert.deepEqual(await list(), []);
  assert.deepEqual(fs.readdirSync(path.join(root, 'containers')), []);
  assert.deepEqual(runIds(), []);
  assert.equal(fs.existsSync(path.join(runRoot, 'c', 'shm', pod)), false, "the pod's /dev/shm is released");
  assert.deepEqual((await mountPoints()).filter((m) => m.startsWith(`${runRoot}/c/`)), [], 'no rootfs stays mounted');
  const active = (await (await new ImageService({ root }).snapshotter()).list()).filter((x) => x.kind === 'active');
  assert.deepEqual(active, [], 'no container snapshot is left');
  // the image can go now
  await unary((cb) => img.RemoveImage({ image: { image: imageName } }, cb));

  running.clients.close();
  running.child.kill('SIGTERM');
  assert.equal(await exited(running.child), 0);
});
