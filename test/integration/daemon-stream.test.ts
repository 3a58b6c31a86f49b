/**
 * berthd's streaming runtime (src/daemon/container-stream.ts) end to end, driven directly with
 * PassThrough streams (the wire protocols are src/cri/streaming's tests): berthd runs in-process over
 * the test environment of test/helpers/berthd.ts; a busybox pod and containers on berth's own handler
 * and on the runc handler. Exec without a terminal (stdout, stderr, exit code, stdin), with a terminal
 * (pty, initial size, interactive input, exit code), a command that does not exist (127), exec with
 * env/user/cwd, client going away (the exec'd process is killed); attach to a container's stdin and
 * output, detach leaves it running; port-forward into the pod's network namespace (echo server,
 * half-close), connection refused; the CRI Exec/Attach/PortForward validation.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Duplex } from 'node:stream';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { criClients, unary } from '../../src/cri/client';
import type * as cri from '../../src/cri/generated';
import type { StreamIO, TerminalSize } from '../../src/cri/streaming/types';
import { loadConfig } from '../../src/daemon/config';
import { startDaemon } from '../../src/daemon/daemon';
import { silentLogger } from '../../src/daemon/log';
import { streamingRuntime, runExec } from '../../src/daemon/container-stream';
import { berthdSkip, rejectsWith, setUpBerthd } from '../helpers/berthd';
import { spdyExec, spdyPortForward, wsExec } from '../helpers/spdy-client';

const skip = berthdSkip();

interface Captured {
  io: StreamIO;
  stdin: PassThrough;
  out: () => string;
  err: () => string;
  resize: (s: TerminalSize) => void;
  outEnded: Promise<void>;
}

function capture(o: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean; size?: TerminalSize } = {}): Captured {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const listeners: ((s: TerminalSize) => void)[] = [];
  const outEnded = new Promise<void>((r) => stdout.once('end', () => r()));
  const io: StreamIO = {
    stdin: o.stdin === true ? stdin : null,
    stdout: o.stdout === false ? null : stdout,
    stderr: o.stderr === true ? stderr : null,
    resize:
      o.tty === true
        ? {
            onResize: (l) => {
              listeners.push(l);
              if (o.size) l(o.size);
            },
          }
        : null,
  };
  return { io, stdin, out: () => out, err: () => err, resize: (s) => listeners.forEach((l) => l(s)), outEnded };
}

async function waitFor(what: string, fn: () => boolean, seen: () => string = () => '', ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}; seen: ${JSON.stringify(seen())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('berthd streaming runtime: exec, attach, port-forward on both handlers', { skip, timeout: 300_000 }, async (t) => {
  const env = await setUpBerthd(t, 'st', ['sh', 'echo', 'sleep', 'cat', 'stty', 'tty', 'nc', 'id', 'pwd', 'env', 'ps', 'dd', 'od'], {
    extraConfig: '[runtimes.runc]\ntype = "oci"\nbinary = "runc"\n',
  });
  const cfg = loadConfig(path.join(env.work, 'berthd.toml'), { socket: env.socket });
  const daemon = await startDaemon(cfg, silentLogger());
  t.after(() => daemon.close());
  const clients = criClients(env.socket);
  t.after(() => clients.close());
  const { runtime: rt, image: img } = clients;
  await unary((cb) => img.PullImage({ image: { image: env.imageName } }, cb));
  assert.ok(daemon.containers);
  const sr = streamingRuntime(daemon.containers, daemon.pods);

  const runPod = async (name: string, handler: string): Promise<{ id: string; cfg: cri.PodSandboxConfig }> => {
    const podCfg: cri.PodSandboxConfig = {
      metadata: { name, uid: `uid-${name}`, namespace: 'berthd-test', attempt: 0 },
      hostname: name,
      log_directory: env.logDir,
      linux: { cgroup_parent: env.cgroupParent },
    };
    const id = (await unary<cri.RunPodSandboxResponse__Output>((cb) => rt.RunPodSandbox({ config: podCfg, runtime_handler: handler }, cb))).pod_sandbox_id;
    return { id, cfg: podCfg };
  };
  const runContainer = async (pod: { id: string; cfg: cri.PodSandboxConfig }, name: string, cfg: Partial<cri.ContainerConfig>): Promise<string> => {
    const id = (
      await unary<cri.CreateContainerResponse__Output>((cb) =>
        rt.CreateContainer(
          { pod_sandbox_id: pod.id, config: { metadata: { name }, image: { image: env.imageName }, log_path: `${name}/0.log`, ...cfg }, sandbox_config: pod.cfg },
          cb,
        ),
      )
    ).container_id;
    await unary((cb) => rt.StartContainer({ container_id: id }, cb));
    const end = Date.now() + 15_000;
    for (;;) {
      const s = (await unary<cri.ContainerStatusResponse__Output>((cb) => rt.ContainerStatus({ container_id: id }, cb))).status!;
      if (s.state === 'CONTAINER_RUNNING') return id;
      if (Date.now() > end) assert.fail(`container ${name} is ${s.state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stateOf = async (id: string): Promise<string> =>
    (await unary<cri.ContainerStatusResponse__Output>((cb) => rt.ContainerStatus({ container_id: id }, cb))).status!.state;

  const berthPod = await runPod('stpod', '');
  const runcPod = await runPod('strpod', 'runc');

  for (const [label, pod] of [
    ['berth', berthPod],
    ['runc', runcPod],
  ] as const) {
    const idle = await runContainer(pod, `idle-${label}`, { command: ['sh', '-c', 'exec sleep 1000'], envs: [{ key: 'GREETING', value: 'hi' }], working_dir: '/etc' });

    // ---- exec without a terminal: stdout, stderr, exit code, the container's env and cwd
    let c = capture({ stderr: true });
    let r = await sr.exec({ containerId: idle, cmd: ['sh', '-c', 'echo "out $GREETING $(pwd)"; echo err >&2; exit 3'], tty: false, stdin: false, stdout: true, stderr: true }, c.io);
    assert.equal(r.exitCode, 3, `${label}: exit code`);
    assert.equal(c.out(), 'out hi /etc\n', `${label}: stdout`);
    assert.equal(c.err(), 'err\n', `${label}: stderr`);
    await c.outEnded;

    // ---- stdin through to the process, its end closes the process's stdin
    c = capture({ stdin: true });
    const catRun = sr.exec({ containerId: idle, cmd: ['cat'], tty: false, stdin: true, stdout: true, stderr: false }, c.io);
    c.stdin.write('hello ');
    c.stdin.end('stdin\n');
    r = await catRun;
    assert.equal(r.exitCode, 0);
    assert.equal(c.out(), 'hello stdin\n', `${label}: cat echoes stdin`);

    // ---- a command that does not exist: 127 and a reason
    c = capture({ stderr: true });
    r = await sr.exec({ containerId: idle, cmd: ['/no/such/binary'], tty: false, stdin: false, stdout: true, stderr: true }, c.io);
    assert.equal(r.exitCode, 127, `${label}: not found: ${c.err()}`);
    c = capture({ tty: true });
    r = await sr.exec({ containerId: idle, cmd: ['/no/such/binary'], tty: true, stdin: false, stdout: true, stderr: false }, c.io);
    assert.equal(r.exitCode, 127, `${label}: not found with a tty: ${c.out()}`);
    assert.match(c.out(), /no such|not found/i);
    assert.match(c.err() + c.out(), /no such|not found/i);

    // ---- with a terminal: a pty of the initial size, then interactive input and an exit code
    c = capture({ stdin: true, tty: true, size: { width: 100, height: 40 } });
    const shRun = sr.exec({ containerId: idle, cmd: ['sh'], tty: true, stdin: true, stdout: true, stderr: false }, c.io);
    c.stdin.write('tty; stty size\n');
    await waitFor(`${label}: the tty's size`, () => /40 100/.test(c.out()), c.out);
    assert.match(c.out(), /\/dev\/pts\/\d+/, `${label}: stdin is a pty`);
    c.resize({ width: 77, height: 22 });
    await new Promise((res) => setTimeout(res, 100));
    c.stdin.write('stty size; echo "sum=$((40+2))"; exit 5\n');
    r = await shRun;
    assert.equal(r.exitCode, 5, `${label}: the shell's exit code`);
    assert.match(c.out(), /22 77/, `${label}: resized`);
    assert.match(c.out(), /sum=42/);
    await c.outEnded;

    // ---- with a terminal the program reads exactly the bytes it was sent, none of berth's own (issue 4:
    // a NUL before the first input), also when the input comes before the pty master reached the monitor
    for (const early of [true, false]) {
      c = capture({ stdin: true, tty: true });
      if (early) c.stdin.write('Z\n');
      const ddRun = sr.exec({ containerId: idle, cmd: ['sh', '-c', 'dd bs=1 count=2 2>/dev/null | od -An -tx1'], tty: true, stdin: true, stdout: true, stderr: false }, c.io);
      if (!early) c.stdin.write('Z\n');
      r = await ddRun;
      assert.equal(r.exitCode, 0, `${label}: dd under a tty: ${JSON.stringify(c.out())}`);
      assert.match(c.out(), /^ *5a 0a\r?$/m, `${label}: the program read 'Z\\n' and nothing else (input ${early ? 'before' : 'after'} the exec started): ${JSON.stringify(c.out())}`);
      assert.doesNotMatch(c.out(), /\^@|\0/, `${label}: no NUL reached the pty: ${JSON.stringify(c.out())}`);
    }

    // ---- a tty exec's first output is not lost (the client is attached before the program runs)
    for (let i = 0; i < 5; i++) {
      c = capture({ tty: true });
      r = await sr.exec({ containerId: idle, cmd: ['echo', 'first-bytes'], tty: true, stdin: false, stdout: true, stderr: false }, c.io);
      assert.equal(r.exitCode, 0);
      assert.match(c.out(), /first-bytes/, `${label}: tty output of a short-lived command (try ${i})`);
    }

    // ---- concurrent execs, with and without a terminal, do not mix
    const many = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const cc = capture({ tty: i % 2 === 0 });
        const rx = await sr.exec({ containerId: idle, cmd: ['sh', '-c', `echo par-${i}; exit ${i}`], tty: i % 2 === 0, stdin: false, stdout: true, stderr: false }, cc.io);
        return [rx.exitCode, cc.out().trim()];
      }),
    );
    assert.deepEqual(many, [0, 1, 2, 3].map((i) => [i, `par-${i}`]), `${label}: concurrent execs`);

    // ---- the client goes away: the exec'd process is killed, the container runs on
    c = capture();
    const longRun = sr.exec({ containerId: idle, cmd: ['sleep', '300'], tty: false, stdin: false, stdout: true, stderr: false }, c.io);
    await new Promise((res) => setTimeout(res, 500));
    c.io.stdout!.destroy();
    const t0 = Date.now();
    r = await longRun;
    assert.ok(Date.now() - t0 < 10_000, 'the exec ended soon after the client went');
    assert.notEqual(r.exitCode, 0);
    assert.equal(await stateOf(idle), 'CONTAINER_RUNNING');

    // ---- runExec (berth exec): env, user, cwd
    c = capture();
    const rr = await runExec(daemon.containers, idle, { cmd: ['sh', '-c', 'echo "$GREETING $EXTRA $(id -u):$(id -g) $(pwd)"'], tty: false, stdin: false, stdout: true, stderr: false, env: ['GREETING=hello', 'EXTRA=x'], user: '1000:1001', cwd: '/bin' }, c.io);
    assert.equal(rr.exitCode, 0);
    assert.ok(rr.pid > 0);
    assert.equal(c.out(), 'hello x 1000:1001 /bin\n', `${label}: env, user and cwd`);
    // detach: started, left running, its pid returned
    const d = await runExec(daemon.containers, idle, { cmd: ['sleep', '123'], tty: false, stdin: false, stdout: false, stderr: false, detach: true }, capture().io);
    assert.equal(d.exitCode, 0);
    assert.ok(d.pid > 0, `${label}: detached pid`);
    // (runc exec -d may return just before the process's execve)
    await waitFor(`${label}: the detached process runs`, () => fs.readFileSync(`/proc/${d.pid}/cmdline`, 'utf8') === 'sleep\u0000123\u0000', () => fs.readFileSync(`/proc/${d.pid}/status`, 'utf8'), 3000);
    process.kill(d.pid, 'SIGKILL');

    // ---- attach: a container reading stdin, echoing to stdout; detach leaves it running
    const catC = await runContainer(pod, `cat-${label}`, { command: ['cat'], stdin: true });
    c = capture({ stdin: true });
    const att = sr.attach({ containerId: catC, tty: false, stdin: true, stdout: true, stderr: false }, c.io);
    await new Promise((res) => setTimeout(res, 200));
    c.stdin.write('attached-line\n');
    await waitFor(`${label}: echo through attach`, () => c.out().includes('attached-line\n'), c.out);
    c.io.stdout!.destroy();
    await att;
    assert.equal(await stateOf(catC), 'CONTAINER_RUNNING', `${label}: the container survives a detach`);
    // attach to a tty container, stdin_once: the container ends with the input
    const ttyC = await runContainer(pod, `ttysh-${label}`, { command: ['sh'], stdin: true, stdin_once: true, tty: true });
    c = capture({ stdin: true, tty: true, size: { width: 90, height: 30 } });
    const att2 = sr.attach({ containerId: ttyC, tty: true, stdin: true, stdout: true, stderr: false }, c.io);
    await new Promise((res) => setTimeout(res, 200));
    c.stdin.write('stty size; exit 4\n');
    await att2;
    assert.match(c.out(), /30 90/, `${label}: the attach resize reached the pty`);
    for (let i = 0; i < 100 && (await stateOf(ttyC)) !== 'CONTAINER_EXITED'; i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(await stateOf(ttyC), 'CONTAINER_EXITED');

    // ---- exec in a stopped container: FAILED_PRECONDITION
    await unary((cb) => rt.StopContainer({ container_id: catC, timeout: 0 }, cb));
    await assert.rejects(sr.exec({ containerId: catC, cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false }, capture().io), /not running/);
  }

  // ---- port-forward into the pod's network namespace: an echo server, half-close
  await runContainer(berthPod, 'echo-server', { command: ['nc', '-ll', '-p', '8080', '-e', '/bin/cat'] });
  const forward = async (port: number, payload: string): Promise<string> => {
    let got = '';
    let resolveEnd!: () => void;
    const ended = new Promise<void>((r) => (resolveEnd = r));
    const input = new PassThrough();
    const s = new Duplex({
      read() {
        // pushed from input
      },
      write(chunk: Buffer, _enc, cb) {
        got += chunk.toString();
        cb();
      },
      final(cb) {
        resolveEnd();
        cb();
      },
    });
    input.on('data', (b: Buffer) => s.push(b));
    input.on('end', () => s.push(null));
    const p = sr.portForward(berthPod.id, port, s);
    input.end(payload);
    await p;
    await ended;
    return got;
  };
  let echoed = '';
  for (let i = 0; i < 50; i++) {
    try {
      echoed = await forward(8080, 'ping through the netns\n');
      if (echoed !== '') break;
    } catch {
      // the server is not listening yet
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(echoed, 'ping through the netns\n', 'the echo came back and the server closed after our half-close');
  await assert.rejects(forward(8081, 'x'), /connection refused/i);
  await assert.rejects(sr.portForward('no-such-pod', 80, new PassThrough()), /not found/);

  // ---- the CRI calls: validation
  const idle = (await unary<cri.ListContainersResponse__Output>((cb) => rt.ListContainers({ filter: { pod_sandbox_id: berthPod.id } }, cb))).containers.find(
    (x) => x.metadata!.name === 'idle-berth',
  )!.id;
  const catStopped = (await unary<cri.ListContainersResponse__Output>((cb) => rt.ListContainers({ filter: { pod_sandbox_id: berthPod.id } }, cb))).containers.find(
    (x) => x.metadata!.name === 'cat-berth',
  )!.id;
  await rejectsWith(unary((cb) => rt.Exec({ container_id: 'nope', cmd: ['sh'], stdout: true }, cb)), GrpcStatus.NOT_FOUND);
  await rejectsWith(unary((cb) => rt.Exec({ container_id: idle, cmd: ['sh'], tty: true, stdout: true, stderr: true }, cb)), GrpcStatus.INVALID_ARGUMENT, /tty and stderr/);
  await rejectsWith(unary((cb) => rt.Exec({ container_id: idle, cmd: ['sh'] }, cb)), GrpcStatus.INVALID_ARGUMENT, /stdin, stdout, or stderr/);
  await rejectsWith(unary((cb) => rt.Exec({ container_id: idle, cmd: [], stdout: true }, cb)), GrpcStatus.INVALID_ARGUMENT, /cmd/);
  await rejectsWith(unary((cb) => rt.Exec({ container_id: catStopped, cmd: ['sh'], stdout: true }, cb)), GrpcStatus.FAILED_PRECONDITION);
  await rejectsWith(unary((cb) => rt.Attach({ container_id: 'nope', stdout: true }, cb)), GrpcStatus.NOT_FOUND);
  await rejectsWith(unary((cb) => rt.Attach({ container_id: catStopped, stdout: true }, cb)), GrpcStatus.FAILED_PRECONDITION);
  await rejectsWith(unary((cb) => rt.PortForward({ pod_sandbox_id: 'nope', port: [80] }, cb)), GrpcStatus.NOT_FOUND);
  // ---- end to end through the streaming server: URLs on loopback, SPDY and websocket clients
  const execUrl = async (req: cri.ExecRequest): Promise<string> => (await unary<cri.ExecResponse__Output>((cb) => rt.Exec(req, cb))).url;
  let url = await execUrl({ container_id: idle, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], stdout: true, stderr: true });
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\//);
  let x = await spdyExec(url);
  assert.deepEqual([x.stdout, x.stderr, x.exitCode], ['out\n', 'err\n', 3], `spdy exec: ${JSON.stringify(x)}`);
  url = await execUrl({ container_id: idle, cmd: ['sh'], tty: true, stdin: true, stdout: true });
  x = await spdyExec(url, { tty: true, stdin: 'stty size; exit 2\n', holdStdin: true, resize: [{ width: 80, height: 24 }] });
  assert.equal(x.exitCode, 2, `spdy exec -it: ${JSON.stringify(x)}`);
  assert.match(x.stdout, /24 80/);
  url = await execUrl({ container_id: idle, cmd: ['sh', '-c', 'dd bs=1 count=2 2>/dev/null | od -An -tx1'], tty: true, stdin: true, stdout: true });
  x = await spdyExec(url, { tty: true, stdin: 'Z\n', holdStdin: true, resize: [{ width: 80, height: 24 }] });
  assert.equal(x.exitCode, 0, `spdy exec -it dd: ${JSON.stringify(x)}`);
  assert.match(x.stdout, /^ *5a 0a\r?$/m, `spdy exec -it: the program read exactly what was sent: ${JSON.stringify(x.stdout)}`);
  url = await execUrl({ container_id: idle, cmd: ['cat'], stdin: true, stdout: true });
  x = await wsExec(url, { stdin: 'over a websocket\n' });
  assert.equal(x.stdout, 'over a websocket\n', `ws exec: ${JSON.stringify(x)}`);
  assert.equal(x.exitCode, 0);
  const onceC = await runContainer(berthPod, 'cat-once', { command: ['cat'], stdin: true, stdin_once: true });
  url = (await unary<cri.AttachResponse__Output>((cb) => rt.Attach({ container_id: onceC, stdin: true, stdout: true, stderr: true }, cb))).url;
  x = await spdyExec(url, { stdin: 'attached over spdy\n' });
  assert.equal(x.stdout, 'attached over spdy\n', `spdy attach: ${JSON.stringify(x)}`);
  const pfUrl = async (port: number): Promise<string> => (await unary<cri.PortForwardResponse__Output>((cb) => rt.PortForward({ pod_sandbox_id: berthPod.id, port: [port] }, cb))).url;
  const pf = await spdyPortForward(await pfUrl(8080), 8080, 'spdy ping\n');
  assert.equal(pf.data.toString(), 'spdy ping\n', `spdy port-forward: ${JSON.stringify(pf)}`);
  assert.equal(pf.error, '');
  const refused = await spdyPortForward(await pfUrl(8081), 8081, 'x');
  assert.match(refused.error, /connection refused/i);
});
