/**
 * berthd ExecSync and stats end to end (setup as daemon-containers.test.ts): ExecSync stdout, stderr,
 * exit code, timeout (the exec'd process is killed); container stats of a busy-looping container (CPU
 * grows, memory > 0), ListContainerStats filters, pod stats, RuntimeConfig, UpdateRuntimeConfig.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import * as grpc from '@grpc/grpc-js';
import { unary } from '../../src/cri/client';
import { loadCri } from '../../src/cri/proto';
import type * as cri from '../../src/cri/generated';
import { berthdSkip, exited, rejectsWith, setUpBerthd } from '../helpers/berthd';

const skip = berthdSkip();

test('berthd: ExecSync, container and pod stats, runtime config', { skip, timeout: 240_000 }, async (t) => {
  const env = await setUpBerthd(t, 'es', ['sh', 'echo', 'sleep', 'cat', 'ls', 'test', '[']);
  const { logDir, imageName, socket: sock } = env;
  let running = await env.start();
  const { runtime: rt, image: img } = running.clients;
  await unary((cb) => img.PullImage({ image: { image: imageName } }, cb));

  const podCfg: cri.PodSandboxConfig = {
    metadata: { name: 'espod', uid: 'uid-espod', namespace: 'berthd-test', attempt: 0 },
    hostname: 'espod',
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
            config: { metadata: { name }, image: { image: imageName }, log_path: `${name}/0.log`, labels: { name, suite: 'exec-stats' }, ...cfg },
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

  const execSync = (id: string, cmd: string[], timeout = 10): Promise<cri.ExecSyncResponse__Output> =>
    unary<cri.ExecSyncResponse__Output>((cb) => rt.ExecSync({ container_id: id, cmd, timeout }, cb));
  const cstats = async (id: string): Promise<cri.ContainerStats__Output> =>
    (await unary<cri.ContainerStatsResponse__Output>((cb) => rt.ContainerStats({ container_id: id }, cb))).stats!;
  const listStats = async (filter?: cri.ContainerStatsFilter): Promise<string[]> =>
    (await unary<cri.ListContainerStatsResponse__Output>((cb) => rt.ListContainerStats(filter ? { filter } : {}, cb))).stats
      .map((x) => x.attributes!.metadata!.name)
      .sort();
  const u = (v: cri.UInt64Value__Output | null | undefined): number => Number(v?.value ?? -1);

  // ---- ExecSync
  const idle = await create('idle', { command: ['sh', '-c', 'echo ready; exec sleep 1000'], envs: [{ key: 'GREETING', value: 'hi' }], working_dir: '/etc' });
  await startC(idle);
  await waitState(idle, 'CONTAINER_RUNNING');
  let r = await execSync(idle, ['sh', '-c', 'echo "out $GREETING $(pwd)"; echo err >&2; exit 7']);
  assert.equal(r.exit_code, 7);
  assert.equal(r.stdout.toString(), 'out hi /etc\n', 'the container env and cwd are the defaults');
  assert.equal(r.stderr.toString(), 'err\n');
  r = await execSync(idle, ['cat', '/etc/hostname']);
  assert.equal(r.exit_code, 0);
  assert.equal(r.stdout.toString().trim(), 'espod');
  const t0 = Date.now();
  await rejectsWith(execSync(idle, ['sleep', '30'], 1), GrpcStatus.DEADLINE_EXCEEDED, /timed out/);
  assert.ok(Date.now() - t0 < 10_000, 'the timeout is honoured');
  r = await execSync(idle, ['sh', '-c', 'ps 2>/dev/null; for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null; echo; done']);
  const procs = r.stdout.toString().replace(/\0/g, ' ');
  assert.match(procs, /sleep 1000/, 'the process listing works');
  assert.doesNotMatch(procs, /sleep 30/, 'the timed-out process is gone');
  await rejectsWith(execSync('0'.repeat(64), ['true']), GrpcStatus.NOT_FOUND);
  await rejectsWith(execSync(idle, ['no-such-binary']), GrpcStatus.INTERNAL, /exec failed/);
  // output is capped to what fits in a 16 MiB message (stdout and stderr together)
  // a client that accepts 16 MiB messages, as kubelet's
  const big = new (loadCri().runtime.v1.RuntimeService)(`unix:${sock}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  t.after(() => big.close());
  r = await unary<cri.ExecSyncResponse__Output>((cb) => big.ExecSync({ container_id: idle, cmd: ['sh', '-c', 'i=0; s=0123456789abcdef; while [ $i -lt 16 ]; do s=$s$s; i=$((i+1)); done; while :; do echo $s; done | head -c 20000000; echo tail >&2'], timeout: 60 }, cb));
  assert.equal(r.exit_code, 0);
  assert.equal(r.stdout.length + r.stderr.length, 16 * 1024 * 1024 - 64 * 1024);
  const created = await create('created', { command: ['sleep', '1000'] });
  await rejectsWith(execSync(created, ['true']), GrpcStatus.FAILED_PRECONDITION);
  await rejectsWith(execSync(idle, []), GrpcStatus.INVALID_ARGUMENT);

  // ---- stats: a busy loop uses CPU
  const busy = await create('busy', { command: ['sh', '-c', 'while :; do :; done'], labels: { name: 'busy', suite: 'exec-stats', kind: 'hot' } });
  await startC(busy);
  await waitState(busy, 'CONTAINER_RUNNING');
  await new Promise((res) => setTimeout(res, 300));
  const s1 = await cstats(busy);
  await new Promise((res) => setTimeout(res, 1000));
  const s2 = await cstats(busy);
  assert.equal(s2.attributes!.id, busy);
  assert.ok(u(s2.cpu!.usage_core_nano_seconds) > u(s1.cpu!.usage_core_nano_seconds), 'cumulative CPU grows');
  assert.ok(u(s1.cpu!.usage_core_nano_seconds) > 0);
  assert.ok(u(s2.cpu!.usage_nano_cores) > 100_000_000, `a busy loop uses a good part of a core: ${u(s2.cpu!.usage_nano_cores)}`);
  assert.ok(u(s2.memory!.working_set_bytes) > 0, 'memory working set > 0');
  assert.ok(u(s2.memory!.usage_bytes) >= u(s2.memory!.working_set_bytes));
  assert.ok(BigInt(String(s2.cpu!.timestamp)) > BigInt(String(s1.cpu!.timestamp)));
  assert.ok(s2.writable_layer!.fs_id!.mountpoint.endsWith('snapshots'));
  // the writable layer grows when a file is written (the du cache is 10 s)
  r = await execSync(idle, ['sh', '-c', 'echo data > /file; echo ok']);
  assert.equal(r.stdout.toString(), 'ok\n');

  // ---- ListContainerStats filters (running containers only)
  assert.deepEqual(await listStats(), ['busy', 'idle']);
  assert.deepEqual(await listStats({ id: busy }), ['busy']);
  assert.deepEqual(await listStats({ id: busy.slice(0, 12) }), ['busy']);
  assert.deepEqual(await listStats({ label_selector: { kind: 'hot' } }), ['busy']);
  assert.deepEqual(await listStats({ label_selector: { kind: 'cold' } }), []);
  assert.deepEqual(await listStats({ pod_sandbox_id: pod }), ['busy', 'idle']);
  assert.deepEqual(await listStats({ pod_sandbox_id: 'f'.repeat(64) }), []);
  await rejectsWith(cstats('0'.repeat(64)), GrpcStatus.NOT_FOUND);

  // ---- pod stats: the pod cgroup (cgroup_parent) holds both containers
  const ps = (await unary<cri.PodSandboxStatsResponse__Output>((cb) => rt.PodSandboxStats({ pod_sandbox_id: pod }, cb))).stats!;
  assert.equal(ps.attributes!.id, pod);
  assert.equal(ps.attributes!.metadata!.name, 'espod');
  const lin = ps.linux!;
  assert.ok(u(lin.cpu!.usage_core_nano_seconds) >= u(s2.cpu!.usage_core_nano_seconds), 'pod CPU includes the busy container');
  assert.ok(u(lin.memory!.working_set_bytes) > 0);
  assert.ok(u(lin.process!.process_count) >= 2, `processes: ${u(lin.process!.process_count)}`);
  assert.deepEqual(lin.containers.map((c) => c.attributes!.metadata!.name).sort(), ['busy', 'idle']);
  assert.equal(lin.network!.default_interface!.name, 'eth0');
  assert.ok(u(lin.network!.default_interface!.tx_bytes) >= 0);
  const lps = (await unary<cri.ListPodSandboxStatsResponse__Output>((cb) => rt.ListPodSandboxStats({}, cb))).stats;
  assert.deepEqual(lps.map((p) => p.attributes!.id), [pod]);
  const none = (await unary<cri.ListPodSandboxStatsResponse__Output>((cb) => rt.ListPodSandboxStats({ filter: { label_selector: { no: 'such' } } }, cb))).stats;
  assert.deepEqual(none, []);
  await rejectsWith(unary((cb) => rt.PodSandboxStats({ pod_sandbox_id: 'f'.repeat(64) }, cb)), GrpcStatus.NOT_FOUND);

  // ---- pod stats without a pod cgroup: the sums over its containers
  const pod2Cfg: cri.PodSandboxConfig = { metadata: { name: 'espod2', uid: 'uid-espod2', namespace: 'berthd-test', attempt: 0 }, hostname: 'espod2', log_directory: logDir };
  const pod2 = (await unary<cri.RunPodSandboxResponse__Output>((cb) => rt.RunPodSandbox({ config: pod2Cfg }, cb))).pod_sandbox_id;
  const lone = await create('lone', { command: ['sh', '-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec sleep 1000'] }, pod2);
  await startC(lone);
  await waitState(lone, 'CONTAINER_RUNNING');
  await new Promise((res) => setTimeout(res, 300));
  const ps2 = (await unary<cri.PodSandboxStatsResponse__Output>((cb) => rt.PodSandboxStats({ pod_sandbox_id: pod2 }, cb))).stats!.linux!;
  const loneStats = ps2.containers.find((c) => c.attributes!.id === lone)!;
  assert.ok(loneStats, 'the pod lists its container');
  assert.ok(u(ps2.cpu!.usage_core_nano_seconds) > 0);
  assert.equal(u(ps2.cpu!.usage_core_nano_seconds), u(loneStats.cpu!.usage_core_nano_seconds), 'one container: the pod is its sum');
  assert.equal(u(ps2.memory!.usage_bytes), u(loneStats.memory!.usage_bytes));
  assert.equal(u(ps2.process!.process_count), 1);
  assert.deepEqual((await unary<cri.ListPodSandboxStatsResponse__Output>((cb) => rt.ListPodSandboxStats({ filter: { id: pod2 } }, cb))).stats.map((p) => p.attributes!.id), [pod2]);
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: pod2 }, cb));
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: pod2 }, cb));

  // ---- runtime config
  const rc = await unary<cri.RuntimeConfigResponse__Output>((cb) => rt.RuntimeConfig({}, cb));
  assert.equal(rc.linux!.cgroup_driver, 'CGROUPFS');
  await unary((cb) => rt.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: '10.244.0.0/24' } } }, cb));

  // ---- cleanup through the API
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: pod }, cb));
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: pod }, cb));
  assert.deepEqual(await list(), []);
  running.clients.close();
  running.child.kill('SIGTERM');
  await exited(running.child);
  void img;
});
