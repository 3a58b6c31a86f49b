/**
 * berthd containers on a RuntimeClass handler of type "oci" ([runtimes.runc], runc as the binary):
 * a pod with runtime_handler "runc"; a container that echoes and exits 3 (EXITED, exit code 3, CRI
 * log lines), a long-running one that ignores SIGTERM stopped with a timeout (SIGKILL after it),
 * UpdateContainerResources through `runc update`, ExecSync through `runc exec` (output, exit code, the
 * container's env and cwd, a timeout that kills the exec'd process), ContainerStats from the cgroups runc
 * made, removal: nothing left behind
 * (runc list empty, no container cgroups, no run files). Everything is cleaned up even on failure.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { unary } from '../../src/cri/client';
import type * as cri from '../../src/cri/generated';
import { mountPoints } from '../../src/image/snapshot';
import { parseCriLog } from '../../src/monitor/cri-log';
import { berthdSkip, exited, rejectsWith, setUpBerthd } from '../helpers/berthd';

const hasRunc = spawnSync('runc', ['--version']).status === 0;
const skip = berthdSkip() ?? (!hasRunc ? 'runc not installed' : undefined);

function cgroupDirs(parent: string, id: string): string[] {
  return ['memory', 'pids', 'cpu,cpuacct', 'devices', 'freezer'].map((c) => path.join('/sys/fs/cgroup', c, parent, id)).filter((d) => fs.existsSync(d));
}

test('berthd: containers on an oci handler (runc)', { skip, timeout: 180_000 }, async (t) => {
  // registered before the set-up so that it runs before the set-up's clean-up removes the work dir
  let runcRoot = '';
  const ids: string[] = [];
  const runc = (...a: string[]) => spawnSync('runc', ['--root', runcRoot, ...a], { encoding: 'utf8', timeout: 30_000 });
  t.after(() => {
    if (runcRoot !== '' && fs.existsSync(runcRoot)) for (const id of ids) runc('delete', '--force', id);
  });
  const env = await setUpBerthd(t, 'o', ['sh', 'echo', 'sleep', 'cat'], { extraConfig: '[runtimes.runc]\ntype = "oci"\nbinary = "runc"\n' });
  // berthd's default root for an oci handler without `root`: <run_root>/runtimes/<name>
  runcRoot = path.join(env.runRoot, 'runtimes', 'runc');
  const running = await env.start();
  const { runtime: rt, image: img } = running.clients;
  await unary((cb) => img.PullImage({ image: { image: env.imageName } }, cb));

  const podCfg: cri.PodSandboxConfig = {
    metadata: { name: 'opod', uid: 'uid-opod', namespace: 'berthd-test', attempt: 0 },
    hostname: 'opod',
    log_directory: env.logDir,
    linux: { cgroup_parent: env.cgroupParent },
  };
  const pod = (await unary<cri.RunPodSandboxResponse__Output>((cb) => rt.RunPodSandbox({ config: podCfg, runtime_handler: 'runc' }, cb))).pod_sandbox_id;
  const create = async (name: string, cfg: Partial<cri.ContainerConfig>): Promise<string> => {
    const id = (
      await unary<cri.CreateContainerResponse__Output>((cb) =>
        rt.CreateContainer({ pod_sandbox_id: pod, config: { metadata: { name }, image: { image: env.imageName }, log_path: `${name}/0.log`, ...cfg }, sandbox_config: podCfg }, cb),
      )
    ).container_id;
    ids.push(id);
    return id;
  };
  const status = async (id: string): Promise<cri.ContainerStatus__Output> =>
    (await unary<cri.ContainerStatusResponse__Output>((cb) => rt.ContainerStatus({ container_id: id }, cb))).status!;
  const startC = (id: string): Promise<unknown> => unary((cb) => rt.StartContainer({ container_id: id }, cb));
  const waitState = async (id: string, state: string, ms = 15_000): Promise<cri.ContainerStatus__Output> => {
    const end = Date.now() + ms;
    for (;;) {
      const s = await status(id);
      if (s.state === state) return s;
      if (Date.now() > end) assert.fail(`container ${id} is ${s.state}, not ${state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const runcState = (id: string): string => (JSON.parse(runc('state', id).stdout) as { status: string }).status;

  // ---- echo and exit 3
  const echo = await create('echo', { command: ['sh', '-c', 'echo "hello $GREETING from $(cat /etc/hostname)"; echo oops >&2; exit 3'], envs: [{ key: 'GREETING', value: 'runc' }] });
  assert.equal((await status(echo)).state, 'CONTAINER_CREATED');
  assert.equal(runcState(echo), 'created', 'runc knows the container');
  assert.ok(cgroupDirs(env.cgroupParent, echo).length > 0, 'runc made the cgroups under the pod cgroup parent');
  await startC(echo);
  let s = await waitState(echo, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 3);
  assert.equal(s.reason, 'Error');
  const log = parseCriLog(fs.readFileSync(path.join(env.logDir, 'echo/0.log')));
  assert.deepEqual(log.map((l) => [l.stream, l.message.toString()]).sort(), [['stderr', 'oops'], ['stdout', 'hello runc from opod']]);
  await rejectsWith(startC(echo), GrpcStatus.FAILED_PRECONDITION);

  // ---- long-running, ignores SIGTERM: stopped with a timeout, SIGKILL after it
  const sleeper = await create('sleeper', { command: ['sleep', '1000'], envs: [{ key: 'GREETING', value: 'hi' }], working_dir: '/etc' });
  await startC(sleeper);
  await waitState(sleeper, 'CONTAINER_RUNNING');
  assert.equal(runcState(sleeper), 'running');
  await unary((cb) => rt.UpdateContainerResources({ container_id: sleeper, linux: { memory_limit_in_bytes: 48 * 1024 * 1024 } }, cb));
  const memFile = path.join('/sys/fs/cgroup/memory', env.cgroupParent, sleeper, 'memory.limit_in_bytes');
  if (fs.existsSync('/sys/fs/cgroup/memory')) assert.equal(fs.readFileSync(memFile, 'utf8').trim(), String(48 * 1024 * 1024), 'runc update set the limit');
  // ExecSync through `runc exec`
  const execSync = (cmd: string[], timeout = 10): Promise<cri.ExecSyncResponse__Output> =>
    unary<cri.ExecSyncResponse__Output>((cb) => rt.ExecSync({ container_id: sleeper, cmd, timeout }, cb));
  let r = await execSync(['sh', '-c', 'echo "out $GREETING $(pwd)"; echo err >&2; exit 7']);
  assert.equal(r.exit_code, 7);
  assert.equal(r.stdout.toString(), 'out hi /etc\n', 'the container env and cwd are the defaults');
  assert.equal(r.stderr.toString(), 'err\n');
  r = await execSync(['cat', '/etc/hostname']);
  assert.equal(r.exit_code, 0);
  assert.equal(r.stdout.toString().trim(), 'opod');
  assert.equal(r.stderr.toString(), '');
  const pidsOf = (): number[] => (JSON.parse(runc('ps', '--format', 'json', sleeper).stdout || '[]') as number[] | null) ?? [];
  const before = pidsOf();
  assert.equal(before.length, 1, `only the container process runs: ${JSON.stringify(before)}`);
  const te = Date.now();
  await rejectsWith(execSync(['sleep', '30'], 1), GrpcStatus.DEADLINE_EXCEEDED, /timed out/);
  assert.ok(Date.now() - te < 10_000, 'the timeout is honoured');
  assert.deepEqual(pidsOf(), before, 'the timed-out process was killed');
  assert.equal(runcState(sleeper), 'running', 'the container survives the exec timeout');
  // ContainerStats from the cgroups runc made at the spec's cgroupsPath
  const cs = (await unary<cri.ContainerStatsResponse__Output>((cb) => rt.ContainerStats({ container_id: sleeper }, cb))).stats!;
  const u = (v: cri.UInt64Value__Output | null | undefined): number => Number(v?.value ?? -1);
  assert.equal(cs.attributes!.id, sleeper);
  assert.ok(u(cs.cpu!.usage_core_nano_seconds) > 0, `cpu usage > 0: ${u(cs.cpu!.usage_core_nano_seconds)}`);
  assert.ok(u(cs.memory!.working_set_bytes) > 0, `memory working set > 0: ${u(cs.memory!.working_set_bytes)}`);
  const memUsage = path.join('/sys/fs/cgroup/memory', env.cgroupParent, sleeper, 'memory.usage_in_bytes');
  if (fs.existsSync(memUsage)) assert.ok(u(cs.memory!.usage_bytes) > 0 && u(cs.memory!.usage_bytes) <= 48 * 1024 * 1024, `usage within the limit: ${u(cs.memory!.usage_bytes)}`);
  const t0 = Date.now();
  await unary((cb) => rt.StopContainer({ container_id: sleeper, timeout: 1 }, cb));
  assert.ok(Date.now() - t0 >= 900, 'the timeout is waited for');
  s = await status(sleeper);
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 137);

  // ---- a created container that is never started, then removal of everything
  await create('idle', { command: ['sleep', '1000'] });
  for (const id of [echo, sleeper]) await unary((cb) => rt.RemoveContainer({ container_id: id }, cb));
  await rejectsWith(status(echo), GrpcStatus.NOT_FOUND);
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: pod }, cb));
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: pod }, cb));
  const listed = runc('list', '--format', 'json');
  assert.equal(listed.status, 0, listed.stderr);
  assert.ok(['', 'null'].includes(listed.stdout.trim()), `runc list is empty: ${listed.stdout}`);
  for (const id of ids) assert.deepEqual(cgroupDirs(env.cgroupParent, id), [], `no cgroups of ${id} remain`);
  assert.deepEqual(fs.readdirSync(path.join(env.root, 'containers')), []);
  assert.deepEqual(fs.readdirSync(path.join(env.runRoot, 'c')).filter((x) => /^[0-9a-f]{64}$/.test(x)), []);
  assert.deepEqual((await mountPoints()).filter((m) => m.startsWith(`${env.runRoot}/c/`)), [], 'no rootfs stays mounted');

  running.clients.close();
  running.child.kill('SIGTERM');
  assert.equal(await exited(running.child), 0);
});
