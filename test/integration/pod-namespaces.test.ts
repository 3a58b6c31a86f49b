/**
 * Pod namespaces on the real kernel (root): pinned net/ipc/uts namespaces that persist with no
 * process, host modes, the pause process as pid 1 of a shared PID namespace, and teardown that
 * leaves no mount, file or process behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readMountInfo } from '../../src/pod/mounts';
import {
  createPodNamespaces,
  loadPodNamespaces,
  namespaceId,
  releasePodRuntimeRoot,
  removePodNamespaces,
  type PodNamespaces,
} from '../../src/pod/namespaces';
import { pauseAlive } from '../../src/pod/pause';
import { BerthError } from '../../src/runtime/errors';

const isRoot = process.getuid?.() === 0;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function mountsUnder(root: string): string[] {
  return readMountInfo()
    .map((m) => m.mountPoint)
    .filter((p) => p.startsWith(`${root}/`));
}

/** Pids of processes whose namespace of `type` is `id` (none for a pinned-only namespace). */
function holders(type: string, id: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readlinkSync(`/proc/${p}/ns/${type}`) === id) out.push(Number(p));
    } catch {
      // gone or not ours to look at
    }
  }
  return out;
}

function makeRoot(t: { after(fn: () => Promise<void> | void): void }, pods: string[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-podns-it-'));
  t.after(async () => {
    for (const p of pods) await removePodNamespaces(p, root).catch(() => undefined);
    await releasePodRuntimeRoot(root).catch(() => undefined);
    assert.deepEqual(mountsUnder(root), []);
    fs.rmSync(root, { recursive: true, force: true });
  });
  return root;
}

test('net, ipc and uts namespaces are pinned to files, differ from the host, and persist with no process', { skip: !isRoot && 'needs root' }, async (t) => {
  const pod = `pin${process.pid}`;
  const root = makeRoot(t, [pod]);
  const ns = await createPodNamespaces({ podId: pod, runtimeRoot: root, hostname: 'pinned-pod' });
  assert.ok(ns.net && ns.ipc && ns.uts);
  assert.equal(ns.dir, path.join(fs.realpathSync(root), pod, 'ns'));
  assert.equal(ns.pause, null);
  assert.equal(ns.ready, true);

  const ids = { net: namespaceId(ns.net), ipc: namespaceId(ns.ipc), uts: namespaceId(ns.uts) };
  for (const [type, id] of Object.entries(ids)) {
    assert.match(id, new RegExp(`^${type}:\\[\\d+\\]$`));
    assert.notEqual(id, fs.readlinkSync(`/proc/self/ns/${type}`), `${type} is the host's`);
    // no process is in it: only the bind mount keeps it
    assert.deepEqual(holders(type, id), [], `${type} is held by a process`);
  }
  // the root is a private mount, the three files are nsfs mounts below it
  const table = readMountInfo();
  const rootMount = table.filter((m) => m.mountPoint === fs.realpathSync(root)).pop();
  assert.ok(rootMount);
  assert.equal(rootMount.optional.filter((o) => o.startsWith('shared:')).length, 0);
  for (const f of [ns.net, ns.ipc, ns.uts]) assert.equal(table.filter((m) => m.mountPoint === f && m.fstype === 'nsfs').length, 1);

  // what is inside
  assert.equal(sh('nsenter', [`--uts=${ns.uts}`, 'hostname']).trim(), 'pinned-pod');
  assert.notEqual(os.hostname(), 'pinned-pod');
  const links = sh('nsenter', [`--net=${ns.net}`, 'ip', '-o', 'link']);
  assert.deepEqual(links.trim().split('\n').map((l) => l.split(':')[1].trim()), ['lo']);
  assert.equal(sh('nsenter', [`--net=${ns.net}`, 'readlink', '/proc/self/ns/net']).trim(), ids.net);

  // recorded for a restarted daemon; a second create is refused
  const loaded = loadPodNamespaces(pod, root);
  assert.deepEqual(loaded, ns);
  await assert.rejects(createPodNamespaces({ podId: pod, runtimeRoot: root }), (e: unknown) => e instanceof BerthError && e.code === 'ALREADY_EXISTS');

  await removePodNamespaces(pod, root);
  assert.deepEqual(mountsUnder(root), []);
  assert.equal(fs.existsSync(path.join(root, pod)), false);
  assert.equal(loadPodNamespaces(pod, root), null);
  await removePodNamespaces(pod, root); // idempotent
});

test('host network and host IPC: nothing is created for them', { skip: !isRoot && 'needs root' }, async (t) => {
  const pod = `host${process.pid}`;
  const root = makeRoot(t, [pod]);
  const ns = await createPodNamespaces({ podId: pod, runtimeRoot: root, hostNetwork: true, hostIpc: true, hostname: 'ignored' });
  assert.equal(ns.net, null);
  assert.equal(ns.ipc, null);
  assert.equal(ns.uts, null, 'host network means the host UTS namespace');
  assert.equal(ns.hostname, '');
  assert.deepEqual(mountsUnder(root), []);
  await removePodNamespaces(pod, root);

  const pod2 = `hipc${process.pid}`;
  t.after(() => removePodNamespaces(pod2, root));
  const ns2 = await createPodNamespaces({ podId: pod2, runtimeRoot: root, hostIpc: true });
  assert.equal(ns2.ipc, null);
  assert.ok(ns2.net && ns2.uts);
  assert.deepEqual(mountsUnder(root).sort(), [ns2.net, ns2.uts].sort());
  await removePodNamespaces(pod2, root);
  assert.deepEqual(mountsUnder(root), []);
});

function nspid(pid: number): number[] {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'));
  assert.ok(line);
  return line.slice(6).trim().split(/\s+/).map(Number);
}

test('a shared PID namespace: the pause is pid 1 there, in the pod namespaces, reaps orphans and dies on teardown', { skip: !isRoot && 'needs root' }, async (t) => {
  const pod = `pid${process.pid}`;
  const root = makeRoot(t, [pod]);
  let placed = 0;
  const ns: PodNamespaces = await createPodNamespaces({
    podId: pod,
    runtimeRoot: root,
    hostname: 'pid-pod',
    sharedPid: true,
    onPausePid: async (pid) => {
      placed = pid;
    },
  });
  const pause = ns.pause;
  assert.ok(pause && ns.net && ns.ipc && ns.uts);
  t.after(() => {
    if (pauseAlive(pause)) process.kill(pause.pid, 'SIGKILL');
  });
  assert.equal(placed, pause.pid);
  assert.ok(pauseAlive(pause));
  // pid 1 of a new PID namespace, in the pod's net/ipc/uts namespaces, in the host's mount namespace
  assert.deepEqual(nspid(pause.pid), [pause.pid, 1]);
  assert.notEqual(fs.readlinkSync(`/proc/${pause.pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'));
  assert.equal(fs.readlinkSync(`/proc/${pause.pid}/ns/net`), namespaceId(ns.net));
  assert.equal(fs.readlinkSync(`/proc/${pause.pid}/ns/ipc`), namespaceId(ns.ipc));
  assert.equal(fs.readlinkSync(`/proc/${pause.pid}/ns/uts`), namespaceId(ns.uts));
  assert.equal(fs.readlinkSync(`/proc/${pause.pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
  const status = fs.readFileSync(`/proc/${pause.pid}/status`, 'utf8');
  assert.match(status, /^CapEff:\s+0+$/m);
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  assert.ok(rss > 0 && rss <= 1024, `pause RSS ${rss} kB`);
  assert.equal(loadPodNamespaces(pod, root)?.pause?.pid, pause.pid);

  // a process joining the namespace sees the pause as pid 1; its orphans are re-parented to it and reaped
  const ps = sh('nsenter', [`--pid=${pause.pidnsPath}`, 'sh', '-c', 'echo $$; cat /proc/1/comm 2>/dev/null; (sleep 0.2 &); exit 0']);
  assert.ok(Number(ps.split('\n')[0]) > 1);
  await new Promise((r) => setTimeout(r, 600));
  const children = fs.readFileSync(`/proc/${pause.pid}/task/${pause.pid}/children`, 'utf8').trim();
  assert.equal(children, '', `pause has unreaped children: ${children}`);
  // signals other than TERM/INT are ignored
  process.kill(pause.pid, 'SIGHUP');
  process.kill(pause.pid, 'SIGUSR1');
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(pauseAlive(pause));

  await removePodNamespaces(pod, root);
  assert.equal(pauseAlive(pause), false);
  assert.deepEqual(mountsUnder(root), []);
  assert.equal(fs.existsSync(path.join(root, pod)), false);
});

test('a failed create leaves nothing behind', { skip: !isRoot && 'needs root' }, async (t) => {
  const pod = `fail${process.pid}`;
  const root = makeRoot(t, [pod]);
  await assert.rejects(
    createPodNamespaces({ podId: pod, runtimeRoot: root, sharedPid: true, pausePath: path.join(root, 'no-such-pause') }),
    /pause program/,
  );
  assert.deepEqual(mountsUnder(root), []);
  assert.equal(fs.existsSync(path.join(root, pod)), false);
  // a failure after the pause started (placing it in a cgroup, say): the pause is killed, nothing left
  let started = 0;
  await assert.rejects(
    createPodNamespaces({
      podId: pod,
      runtimeRoot: root,
      sharedPid: true,
      onPausePid: async (pid) => {
        started = pid;
        throw new Error('cgroup placement failed');
      },
    }),
    /cgroup placement failed/,
  );
  assert.ok(started > 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(pauseAlive({ pid: started, startTime: '' }), false);
  assert.deepEqual(mountsUnder(root), []);
  assert.equal(fs.existsSync(path.join(root, pod)), false);
});

test('pods created concurrently in a fresh root: one private root mount, every pod pinned', { skip: !isRoot && 'needs root' }, async (t) => {
  const pods = [0, 1, 2, 3].map((i) => `conc${i}x${process.pid}`);
  const root = makeRoot(t, pods);
  const made = await Promise.all(pods.map((podId, i) => createPodNamespaces({ podId, runtimeRoot: root, hostname: `c${i}`, sharedPid: i === 0 })));
  const real = fs.realpathSync(root);
  assert.equal(readMountInfo().filter((m) => m.mountPoint === real).length, 1);
  const ids = new Set<string>();
  for (const [i, ns] of made.entries()) {
    assert.ok(ns.net && ns.uts);
    ids.add(namespaceId(ns.net));
    assert.equal(sh('nsenter', [`--uts=${ns.uts}`, 'hostname']).trim(), `c${i}`);
  }
  assert.equal(ids.size, 4);
  await Promise.all(pods.map((p) => removePodNamespaces(p, root)));
  assert.deepEqual(mountsUnder(root), []);
  assert.deepEqual(fs.readdirSync(root), []);
});
