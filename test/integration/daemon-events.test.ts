/**
 * GetContainerEvents end to end: two subscribers on a berthd process see the pod sandbox's own events
 * (containerId = pod id) and each container's CREATED, STARTED, STOPPED (also for a container that
 * exits on its own, noticed without anyone asking) and DELETED, with the pod status and the pod's
 * container statuses; a cancelled subscriber stops receiving while the other goes on.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { status as GrpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { unary } from '../../src/cri/client';
import type * as cri from '../../src/cri/generated';
import { berthdSkip, exited, rejectsWith, setUpBerthd } from '../helpers/berthd';

const skip = berthdSkip();

type Ev = cri.ContainerEventResponse__Output;

function collect(stream: ClientReadableStream<Ev>): { events: Ev[]; errors: ServiceError[] } {
  const out = { events: [] as Ev[], errors: [] as ServiceError[] };
  stream.on('data', (e: Ev) => out.events.push(e));
  stream.on('error', (e: ServiceError) => out.errors.push(e));
  return out;
}

async function waitFor(events: Ev[], pred: (e: Ev) => boolean, what: string, ms = 10_000): Promise<Ev> {
  const end = Date.now() + ms;
  for (;;) {
    const e = events.find(pred);
    if (e) return e;
    if (Date.now() > end) assert.fail(`no event: ${what}; got ${JSON.stringify(events.map((x) => [x.container_id.slice(0, 8), x.container_event_type]))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('berthd: GetContainerEvents for pods and containers, two subscribers, cancel', { skip, timeout: 120_000 }, async (t) => {
  const env = await setUpBerthd(t, 'ev', ['sh', 'sleep']);
  let running = await env.start();
  let { runtime: rt, image: img } = running.clients;
  await unary((cb) => img.PullImage({ image: { image: env.imageName } }, cb));

  const s1 = rt.GetContainerEvents({});
  const s2 = rt.GetContainerEvents({});
  const a = collect(s1);
  const b = collect(s2);
  t.after(() => {
    s1.cancel();
    s2.cancel();
  });
  // the server subscribes when the call arrives; give it a moment
  await new Promise((r) => setTimeout(r, 500));

  const podCfg: cri.PodSandboxConfig = {
    metadata: { name: 'evpod', uid: 'uid-evpod', namespace: 'berthd-test', attempt: 0 },
    hostname: 'evpod',
    log_directory: env.logDir,
    linux: { cgroup_parent: env.cgroupParent },
  };
  const pod = (await unary<cri.RunPodSandboxResponse__Output>((cb) => rt.RunPodSandbox({ config: podCfg }, cb))).pod_sandbox_id;
  const isEv = (id: string, type: string) => (e: Ev) => e.container_id === id && e.container_event_type === type;
  const podCreated = await waitFor(a.events, isEv(pod, 'CONTAINER_CREATED_EVENT'), 'pod created');
  await waitFor(a.events, isEv(pod, 'CONTAINER_STARTED_EVENT'), 'pod started');
  assert.equal(podCreated.pod_sandbox_status?.id, pod);
  assert.equal(podCreated.pod_sandbox_status?.state, 'SANDBOX_READY');
  assert.equal(podCreated.pod_sandbox_status?.metadata?.name, 'evpod');
  assert.ok(BigInt(podCreated.created_at) > 0n);

  const create = async (name: string, command: string[]): Promise<string> =>
    (
      await unary<cri.CreateContainerResponse__Output>((cb) =>
        rt.CreateContainer({ pod_sandbox_id: pod, config: { metadata: { name }, image: { image: env.imageName }, command, log_path: `${name}.log` }, sandbox_config: podCfg }, cb),
      )
    ).container_id;

  // a container that exits on its own: its STOPPED event comes without any call
  const quick = await create('quick', ['sh', '-c', 'sleep 0.3; exit 4']);
  const qCreated = await waitFor(a.events, isEv(quick, 'CONTAINER_CREATED_EVENT'), 'quick created');
  assert.equal(qCreated.pod_sandbox_status?.id, pod);
  assert.deepEqual(
    qCreated.containers_statuses.map((c) => [c.id, c.state]),
    [[quick, 'CONTAINER_CREATED']],
  );
  await unary((cb) => rt.StartContainer({ container_id: quick }, cb));
  await waitFor(a.events, isEv(quick, 'CONTAINER_STARTED_EVENT'), 'quick started');
  const qStopped = await waitFor(a.events, isEv(quick, 'CONTAINER_STOPPED_EVENT'), 'quick stopped on its own', 8000);
  const qs = qStopped.containers_statuses.find((c) => c.id === quick);
  assert.equal(qs?.state, 'CONTAINER_EXITED');
  assert.equal(qs?.exit_code, 4);

  // a container stopped by StopContainer
  const long = await create('long', ['sleep', '1000']);
  await unary((cb) => rt.StartContainer({ container_id: long }, cb));
  await waitFor(a.events, isEv(long, 'CONTAINER_STARTED_EVENT'), 'long started');
  await waitFor(b.events, isEv(long, 'CONTAINER_STARTED_EVENT'), 'long started (second subscriber)');
  // the second subscriber goes away
  s2.cancel();
  await new Promise((r) => setTimeout(r, 300));
  const bCount = b.events.length;
  await unary((cb) => rt.StopContainer({ container_id: long, timeout: 0 }, cb));
  const lStopped = await waitFor(a.events, isEv(long, 'CONTAINER_STOPPED_EVENT'), 'long stopped');
  assert.equal(lStopped.containers_statuses.find((c) => c.id === long)?.exit_code, 137);

  await unary((cb) => rt.RemoveContainer({ container_id: quick }, cb));
  await waitFor(a.events, isEv(quick, 'CONTAINER_DELETED_EVENT'), 'quick deleted');
  await unary((cb) => rt.StopPodSandbox({ pod_sandbox_id: pod }, cb));
  const podStopped = await waitFor(a.events, isEv(pod, 'CONTAINER_STOPPED_EVENT'), 'pod stopped');
  assert.equal(podStopped.pod_sandbox_status?.state, 'SANDBOX_NOTREADY');
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: pod }, cb));
  await waitFor(a.events, isEv(long, 'CONTAINER_DELETED_EVENT'), 'long deleted with the pod');
  const podDeleted = await waitFor(a.events, isEv(pod, 'CONTAINER_DELETED_EVENT'), 'pod deleted');
  assert.equal(podDeleted.pod_sandbox_status, null, 'the pod is gone');
  assert.deepEqual(podDeleted.containers_statuses, []);

  // every event once, in lifecycle order
  const seq = (id: string): string[] => a.events.filter((e) => e.container_id === id).map((e) => e.container_event_type);
  assert.deepEqual(seq(quick), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
  assert.deepEqual(seq(long), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
  assert.deepEqual(seq(pod), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
  // the cancelled subscriber saw the same beginning and nothing after it left
  assert.deepEqual(
    b.events.map((e) => [e.container_id, e.container_event_type]),
    a.events.slice(0, bCount).map((e) => [e.container_id, e.container_event_type]),
  );
  assert.equal(b.events.length, bCount);
  assert.ok(b.errors.every((e) => e.code === GrpcStatus.CANCELLED));
  assert.deepEqual(a.errors, []);

  // UpdateRuntimeConfig: a bad pod CIDR is refused naming the field; a good one is kept in the root
  await rejectsWith(
    unary((cb) => rt.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: '10.244.0.1/16' } } }, cb)),
    GrpcStatus.INVALID_ARGUMENT,
    /runtime_config\.network_config\.pod_cidr/,
  );
  await unary((cb) => rt.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: '10.244.0.0/16' } } }, cb));
  assert.equal(JSON.parse(fs.readFileSync(path.join(env.root, 'runtime-config.json'), 'utf8')).podCidr, '10.244.0.0/16');

  // kill -9 of berthd while a container runs: the restarted berthd watches it again and reports its
  // exit; a container that ended while berthd was down is not reported again
  const pod2 = (await unary<cri.RunPodSandboxResponse__Output>((cb) => rt.RunPodSandbox({ config: { ...podCfg, metadata: { ...podCfg.metadata!, name: 'evpod2', uid: 'uid-evpod2' } } }, cb))).pod_sandbox_id;
  const create2 = async (name: string, command: string[]): Promise<string> =>
    (await unary<cri.CreateContainerResponse__Output>((cb) => rt.CreateContainer({ pod_sandbox_id: pod2, config: { metadata: { name }, image: { image: env.imageName }, command } }, cb))).container_id;
  const survivor = await create2('survivor', ['sleep', '3']);
  const gone = await create2('gone', ['sleep', '0.2']);
  await unary((cb) => rt.StartContainer({ container_id: survivor }, cb));
  await unary((cb) => rt.StartContainer({ container_id: gone }, cb));
  s1.cancel();
  running.child.kill('SIGKILL');
  await exited(running.child);
  await new Promise((r) => setTimeout(r, 500));
  running = await env.start();
  ({ runtime: rt, image: img } = running.clients);
  const s3 = rt.GetContainerEvents({});
  t.after(() => s3.cancel());
  const c = collect(s3);
  const survived = await waitFor(c.events, isEv(survivor, 'CONTAINER_STOPPED_EVENT'), 'survivor stopped after the restart', 10_000);
  assert.equal(survived.containers_statuses.find((x) => x.id === survivor)?.state, 'CONTAINER_EXITED');
  assert.equal(survived.pod_sandbox_status?.id, pod2);
  assert.equal(c.events.filter((e) => e.container_id === gone).length, 0);
  await unary((cb) => rt.RemovePodSandbox({ pod_sandbox_id: pod2 }, cb));
  await waitFor(c.events, isEv(pod2, 'CONTAINER_DELETED_EVENT'), 'pod2 deleted');
  assert.equal(JSON.parse(fs.readFileSync(path.join(env.root, 'runtime-config.json'), 'utf8')).podCidr, '10.244.0.0/16', 'kept across the restart');
});
