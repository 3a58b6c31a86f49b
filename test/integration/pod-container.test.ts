/**
 * A container in a pod: berth's own executor runs a busybox container that joins the pod's pinned
 * net/ipc/uts namespace files by path and the pause's shared PID namespace, which is what berthd
 * does for every container of a pod.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isRoot, makeBundle } from '../helpers/bundle';
import { runPlan } from '../helpers/init-plan';
import { createPodNamespaces, namespaceId, releasePodRuntimeRoot, removePodNamespaces } from '../../src/pod/namespaces';
import { defaultPausePath, pauseAlive } from '../../src/pod/pause';
import { defaultInitPath } from '../../src/runtime/init/launch';
import { compilePlan } from '../../src/runtime/plan/compile';
import { defaultSpec } from '../../src/runtime/spec/default';
import { validateConfig } from '../../src/runtime/spec/validate';

const skip = !isRoot()
  ? 'needs root'
  : !fs.existsSync(defaultInitPath()) || !fs.existsSync(defaultPausePath())
    ? 'native/build/berth-init or berth-pause not built'
    : false;

test('a container joins the pinned namespaces and the shared PID namespace of its pod', { skip, timeout: 60_000 }, async (t) => {
  const pod = `ctr${process.pid}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-podctr-'));
  const bundle = makeBundle('berth-podctr-b-');
  t.after(async () => {
    await removePodNamespaces(pod, root).catch(() => undefined);
    await releasePodRuntimeRoot(root).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
    bundle.remove();
  });
  const ns = await createPodNamespaces({ podId: pod, runtimeRoot: root, hostname: 'in-a-pod', sharedPid: true });
  assert.ok(ns.net && ns.ipc && ns.uts && ns.pause);

  const raw = defaultSpec();
  delete raw.hostname; // the pod's UTS namespace already has its name
  assert.ok(raw.process && raw.linux);
  raw.process.terminal = false;
  raw.process.args = ['sh', '-c', 'echo host=$(hostname); echo net=$(readlink /proc/self/ns/net); echo ipc=$(readlink /proc/self/ns/ipc); echo pid=$$; echo one=$(cat /proc/1/comm); ls /sys/class/net'];
  raw.linux.namespaces = [
    { type: 'mount' },
    { type: 'network', path: ns.net },
    { type: 'ipc', path: ns.ipc },
    { type: 'uts', path: ns.uts },
    { type: 'pid', path: ns.pause.pidnsPath },
  ];
  bundle.writeConfig(raw);
  const spec = validateConfig(JSON.parse(fs.readFileSync(path.join(bundle.dir, 'config.json'), 'utf8')));
  const plan = compilePlan(spec, { bundle: bundle.dir, execFifo: '', consoleSocket: '', preserveFds: 0, noPivot: false, noNewKeyring: false, foreground: true });
  const r = await runPlan(plan);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'host=in-a-pod');
  assert.equal(lines[1], `net=${namespaceId(ns.net)}`);
  assert.equal(lines[2], `ipc=${namespaceId(ns.ipc)}`);
  assert.ok(Number(lines[3].slice(4)) > 1, lines[3]);
  assert.equal(lines[4], 'one=berth-pause');
  assert.deepEqual(lines.slice(5), ['lo']);

  await removePodNamespaces(pod, root);
  assert.equal(pauseAlive(ns.pause), false);
});
