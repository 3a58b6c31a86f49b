/**
 * README's main job, end to end: scripts/demo.sh's berth steps (--no-setup) on a temporary --root and
 * --run-root, asserted on its output (the command's output, the page fetched on 127.0.0.1, ps, logs)
 * and on what it leaves behind (no mount, process, cgroup, iptables rule or veth of its own, no image,
 * no container). Then `berth run` errors a person can act on, driven as spawned processes: an unknown
 * image (exit 125, naming it), a name in use (125, naming the holder), a host port in use by a host
 * process or by another berth container (125), not root (125), and a command that cannot be run (126)
 * or found (127).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readMountInfo } from '../../src/pod/mounts';
import { BERTH, REPO, destroyEnv, exec, importDemoImage, makeEnv, toolsSkip } from '../helpers/berth-demo';

const skip = toolsSkip();

/** Processes whose command line or working directory mentions `dir`. */
function processesUsing(dir: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      if (cmdline.includes(dir) || cwd.startsWith(dir)) out.push(`${pid}: ${cmdline.trim()}`);
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

/** cgroup directories (every v1 hierarchy, a few levels deep) whose name contains `needle`. */
function cgroupsNamed(needle: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 4) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name.includes(needle)) out.push(p);
      walk(p, depth + 1);
    }
  };
  for (const ctl of fs.existsSync('/sys/fs/cgroup') ? fs.readdirSync('/sys/fs/cgroup') : []) walk(path.join('/sys/fs/cgroup', ctl), 0);
  return out;
}

/**
 * Collects every 64-hex name (engine, container and pod ids) that appears under `dirs` (3 levels)
 * while it runs: what the demo made, to look for afterwards. stop() ends the polling.
 */
function watchIds(dirs: string[]): { ids: Set<string>; veths: Set<string>; stop(): void } {
  const ids = new Set<string>();
  // host-side veth names, from the CNI result cache (<root>/engine/cni/results/<net>-<pod>-eth0)
  const vethNames = new Set<string>();
  const scan = (dir: string, depth: number): void => {
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const m = /[0-9a-f]{64}/.exec(e);
      if (m) ids.add(m[0]);
      if (path.basename(dir) === 'results' && m) {
        try {
          for (const v of fs.readFileSync(path.join(dir, e), 'utf8').match(/"veth[0-9a-z]+"/g) ?? []) vethNames.add(v.slice(1, -1));
        } catch {
          // being written or gone
        }
      }
      if (depth < 3) scan(path.join(dir, e), depth + 1);
    }
  };
  const timer = setInterval(() => dirs.forEach((d) => scan(d, 0)), 25);
  return {
    ids,
    veths: vethNames,
    stop: () => {
      clearInterval(timer);
      dirs.forEach((d) => scan(d, 0));
    },
  };
}

function veths(): Set<string> {
  const text = execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' });
  return new Set(text.split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '').filter((n) => n !== ''));
}

/** A free tcp port on 127.0.0.1, from the kernel. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

test('the demo (scripts/demo.sh --no-setup): image, run, a page on 127.0.0.1, ps, logs, and nothing left', { skip, timeout: 300_000 }, async (t) => {
  const env = makeEnv('d');
  t.after(() => destroyEnv(env));
  const port = await freePort();

  const watch = watchIds([path.join(env.root, 'engine'), path.join(env.runRoot, 'engine')]);
  const r = await exec('bash', [path.join(REPO, 'scripts', 'demo.sh'), '--no-setup', ...env.globals, '--port', String(port)], { timeoutMs: 240_000 });
  watch.stop();
  const out = r.stdout;
  assert.equal(r.status, 0, `demo exited ${r.status}\nstdout:\n${out}\nstderr:\n${r.stderr}`);

  // the image was imported and listed
  const image = /berth import .* - (berth-demo\/busybox:[\d-]+)/.exec(out)?.[1];
  assert.ok(image, `no import line in:\n${out}`);
  assert.match(out, /REPOSITORY\s+TAG\s+IMAGE ID/);
  // the command ran in the container: its hostname, pid 1
  assert.match(out, /hello from demo: I am pid 1; \/ holds: bin .*www\n/);
  // the web server: its id, the page fetched on 127.0.0.1
  const id = /\$ berth run -d [^\n]*\n([0-9a-f]{64})\n/.exec(out)?.[1];
  assert.ok(id, `berth run -d printed no container id:\n${out}`);
  const page = /^Hello from a berth container \(demo [\d-]+\)$/m.exec(out)?.[0];
  assert.ok(page, 'the page was not printed');
  assert.match(out, /\(the page came from the container: OK\)/);
  // ps lists it (name and the published port); logs show httpd's request line
  const name = /--name (berth-demo-web-[\d-]+)/.exec(out)?.[1];
  assert.ok(name);
  const psPart = out.slice(out.indexOf('$ berth ps'), out.indexOf('$ berth port'));
  assert.match(psPart, /CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES/);
  assert.match(psPart, new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp.*${name}`));
  const portPart = out.slice(out.indexOf('$ berth port'), out.indexOf('$ berth logs'));
  assert.match(portPart, new RegExp(`80/tcp -> 127\\.0\\.0\\.1:${port}`));
  const logsPart = out.slice(out.indexOf('$ berth logs'), out.indexOf('$ berth rm'));
  assert.match(logsPart, /response:200|GET \//, `httpd -v logged no request:\n${logsPart}`);
  assert.match(out, /done: image built, command run, page fetched/);

  // nothing left: containers, the image, mounts, processes, cgroups, iptables rules, veths
  assert.equal((await env.berth(['ps', '-aq'])).stdout.trim(), '', 'a container is left');
  const images = await env.berth(['images', '--format', 'json']);
  assert.equal(images.stdout.includes('berth-demo'), false, `the image is left:\n${images.stdout}`);
  // (the pods' runtime root is a private bind mount of itself, kept like /run/netns: docs/networking.md)
  const podsRoot = path.join(env.runRoot, 'engine', 'pods');
  const mountsLeft = readMountInfo().filter((m) => m.mountPoint.startsWith(`${env.work}/`) && m.mountPoint !== podsRoot);
  assert.deepEqual(mountsLeft.map((m) => m.mountPoint), [], 'mounts are left');
  assert.deepEqual(processesUsing(env.work), [], 'processes are left');
  // the engine's, the container manager's and the pod's ids seen during the run (at least the web
  // container's and its pod's)
  assert.ok(watch.ids.has(id) && watch.ids.size >= 3, `ids seen: ${[...watch.ids].join(' ')}`);
  const rules = execFileSync('iptables-save', [], { encoding: 'utf8' });
  assert.equal(rules.includes(`--dports ${port}`), false, `iptables rules for port ${port} are left`);
  for (const x of watch.ids) {
    assert.deepEqual(cgroupsNamed(x.slice(0, 12)), [], `cgroups of ${x} are left`);
    assert.equal(rules.includes(x), false, `iptables rules naming ${x} are left`);
  }
  // the engine's stores hold nothing of the run
  for (const d of [path.join(env.root, 'engine'), path.join(env.runRoot, 'engine')]) {
    const found = execFileSync('find', [d, '-name', '*[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*'], { encoding: 'utf8' }).trim();
    assert.equal(found, '', `records are left under ${d}`);
  }
  // the pods' veths (named in their CNI results; other tests make veths at the same time)
  assert.ok(watch.veths.size >= 1, 'no veth seen in the CNI results');
  const now = veths();
  assert.deepEqual([...watch.veths].filter((v) => now.has(v)), [], 'veths are left');
});

test('berth run: errors a person can act on, with docker exit codes', { skip, timeout: 300_000 }, async (t) => {
  const env = makeEnv('e');
  const servers: net.Server[] = [];
  t.after(async () => {
    for (const s of servers) s.close();
    await destroyEnv(env);
  });
  const image = 'berth-test/box:1';
  await importDemoImage(env, image, 'errors test page');

  await t.test('unknown image: 125 naming it (local only, and with a pull that cannot reach a registry)', async () => {
    let r = await env.berth(['run', '--rm', '--pull', 'never', 'berth-test/nosuch:1', 'true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /berth-test\/nosuch:1/);
    assert.match(r.stderr, /no such image|not found|unable to find/i);
    // 127.0.0.1:9 (discard) has no registry: the pull fails, still 125 and still naming the image
    r = await env.berth(['run', '--rm', '127.0.0.1:9/nosuch:1', 'true'], { timeoutMs: 60_000 });
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /127\.0\.0\.1:9\/nosuch:1/);
  });

  await t.test('name in use: 125, naming the container that holds it; the holder is untouched', async () => {
    const first = await env.berth(['run', '-d', '--name', 'taken', image, 'sleep', '60']);
    assert.equal(first.status, 0, first.stderr);
    const holder = first.stdout.trim();
    assert.match(holder, /^[0-9a-f]{64}$/);
    const r = await env.berth(['run', '--name', 'taken', image, 'true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /"?\/?taken"? is already in use/);
    assert.match(r.stderr, new RegExp(holder.slice(0, 12)));
    const ps = await env.berth(['ps', '-q', '--no-trunc']);
    assert.deepEqual(ps.stdout.trim().split('\n'), [holder], 'the holder still runs, and nothing else was made');
    assert.equal((await env.berth(['rm', '-f', 'taken'])).status, 0);
  });

  await t.test('port in use by a host process: 125 naming the port; no container is left', async () => {
    const srv = net.createServer((c) => c.end('host server\n'));
    servers.push(srv);
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
    const port = (srv.address() as net.AddressInfo).port;
    const r = await env.berth(['run', '-d', '--name', 'web-busy', '-p', `127.0.0.1:${port}:80`, image, 'httpd', '-f', '-p', '80', '-h', '/www']);
    assert.equal(r.status, 125, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${port}`));
    assert.match(r.stderr, /in use|already allocated|address already/i);
    assert.equal((await env.berth(['ps', '-aq'])).stdout.trim(), '', 'a container was left');
    // the host server still owns its port: no DNAT rule steals it
    const got = await new Promise<string>((res, rej) => {
      const c = net.connect(port, '127.0.0.1');
      let b = '';
      c.on('data', (d) => (b += d.toString()));
      c.on('end', () => res(b));
      c.on('error', rej);
    });
    assert.equal(got, 'host server\n');
  });

  await t.test('port in use by another berth container: 125, and the first one keeps serving', async () => {
    const port = await freePort();
    const first = await env.berth(['run', '-d', '--name', 'web1', '-p', `127.0.0.1:${port}:80`, image, 'httpd', '-f', '-p', '80', '-h', '/www']);
    assert.equal(first.status, 0, first.stderr);
    const r = await env.berth(['run', '-d', '--name', 'web2', '-p', `${port}:80`, image, 'httpd', '-f', '-p', '80', '-h', '/www']);
    assert.equal(r.status, 125, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${port}`));
    const names = (await env.berth(['ps', '-a', '--format', '{{.Names}}'])).stdout.trim().split('\n');
    assert.deepEqual(names, ['web1']);
    let body = '';
    for (let i = 0; i < 50 && body === ''; i++) {
      // (no wget -T: Debian's busybox-static 1.35 wget crashes with it)
      const w = await exec('timeout', ['5', 'busybox', 'wget', '-qO-', `http://127.0.0.1:${port}/`]);
      if (w.status === 0) body = w.stdout;
      else await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(body, 'errors test page\n');
    assert.equal((await env.berth(['rm', '-f', 'web1'])).status, 0);
  });

  await t.test('not root: 125, saying so', async () => {
    // (the env's dirs are not nobody's to read: an empty config, and roots it cannot reach)
    const globals = ['--root', env.root, '--run-root', env.runRoot, '--config', '/dev/null'];
    const r = await exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BERTH, ...globals, 'run', '--rm', image, 'true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /root/);
    assert.equal((await env.berth(['ps', '-aq'])).stdout.trim(), '');
  });

  await t.test('a command that cannot be run: 126; one that does not exist: 127', async () => {
    let r = await env.berth(['run', '--rm', image, '/etc/passwd']);
    assert.equal(r.status, 126, r.stderr);
    r = await env.berth(['run', '--rm', image, 'no-such-command']);
    assert.equal(r.status, 127, r.stderr);
    assert.match(r.stderr, /no-such-command/);
    r = await env.berth(['run', '--rm', image, 'sh', '-c', 'exit 7']);
    assert.equal(r.status, 7, r.stderr);
    assert.equal((await env.berth(['ps', '-aq'])).stdout.trim(), '', '--rm left a container');
  });
});

test('the low-level demo (scripts/demo.sh --no-setup --oci): a busybox bundle run with berth-oci', { skip: process.getuid?.() !== 0 ? 'needs root' : undefined, timeout: 120_000 }, async () => {
  const r = await exec('bash', [path.join(REPO, 'scripts', 'demo.sh'), '--no-setup', '--oci'], { timeoutMs: 100_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^hostname: berth-demo$/m);
  assert.match(r.stdout, /^pid of this shell: 1$/m);
  assert.match(r.stdout, /state after start: running/);
  assert.match(r.stdout, /== done: container deleted/);
});
