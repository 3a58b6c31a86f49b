/**
 * `berth` container lifecycle as a person drives it: bin/berth spawned with --root/--run-root in a temp
 * dir and an image imported from the host's busybox-static. Exit codes (0, 3, 125, 126, 127), -e/-w/-u,
 * -v bind, --read-only, -d + ps + logs + stop + rm, --rm, rename/port/inspect/wait, names in use, a
 * published port reached on 127.0.0.1, and `rm -f` leaving no mount, cgroup, veth or process behind.
 */
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync, execFileSync } from 'node:child_process';
import { isRoot, makeBusyboxRootfs } from '../helpers/bundle';

const REPO = path.resolve(__dirname, '../../..');
const BERTH = path.join(REPO, 'bin', 'berth');
const skip = !isRoot() ? 'needs root' : !fs.existsSync(path.join(REPO, 'native/build/berth-monitor')) ? 'native programs not built' : !fs.existsSync('/bin/busybox') ? 'no busybox-static' : undefined;

interface Env {
  root: string;
  runRoot: string;
  berth(args: string[], input?: string): { status: number | null; stdout: string; stderr: string };
}

function setUp(t: TestContext, tag: string): Env {
  // short: the monitor's attach socket path (<runRoot>/engine/c/<64 hex>/attach) must fit sun_path
  const base = fs.mkdtempSync(path.join('/tmp', `br${tag.slice(0, 2)}`));
  const root = path.join(base, 'root');
  const runRoot = path.join(base, 'run');
  const berth = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [BERTH, '--root', root, '--run-root', runRoot, '--config', '/dev/null', ...args], { encoding: 'utf8', input: input ?? '', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  t.after(() => {
    // every container of this root, then the root's own mounts (pod namespace dir, pod /dev/shm)
    const ids = berth(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter((x) => /^[0-9a-f]{64}$/.test(x));
    if (ids.length > 0) berth(['rm', '-f', ...ids]);
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(base));
    for (const m of mounts.sort().reverse()) spawnSync('umount', ['-l', m]);
    fs.rmSync(base, { recursive: true, force: true });
  });
  const rootfs = path.join(base, 'rootfs');
  makeBusyboxRootfs(rootfs);
  fs.mkdirSync(path.join(rootfs, 'www'));
  fs.writeFileSync(path.join(rootfs, 'www', 'index.html'), 'hello from berth\n');
  execFileSync('tar', ['-C', rootfs, '-cf', path.join(base, 'rootfs.tar'), '.']);
  const imp = berth(['import', '--change', 'CMD ["sh"]', path.join(base, 'rootfs.tar'), 'busy:1']);
  assert.equal(imp.status, 0, imp.stderr);
  return { root, runRoot, berth };
}

function get(url: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

async function getWithRetry(url: string, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await get(url);
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

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

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

test('berth run: exit codes 0, 3, 125, 126, 127 and the process settings', { skip }, (t) => {
  const e = setUp(t, 'codes');
  const ok = e.berth(['run', '--rm', 'busy:1', 'echo', 'hello']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, 'hello\n');
  const three = e.berth(['run', '--name', 'three', 'busy:1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(three.status, 3, three.stderr);
  assert.equal(three.stdout, 'out\n');
  assert.match(three.stderr, /err/);
  // the exited container stays (no --rm), with its exit code
  assert.match(e.berth(['ps', '-a', '--format', '{{.Names}} {{.Status}}']).stdout, /^three Exited \(3\) /m);
  assert.equal(e.berth(['inspect', '-f', '{{.State.ExitCode}} {{.State.Status}}', 'three']).stdout, '3 exited\n');
  // name in use: 125, naming the holder
  const dup = e.berth(['run', '--name', 'three', 'busy:1', 'true']);
  assert.equal(dup.status, 125);
  assert.match(dup.stderr, /name "\/three" is already in use by container "[0-9a-f]{64}"/);
  const nf = e.berth(['run', '--rm', 'busy:1', 'no-such-command']);
  assert.equal(nf.status, 127, nf.stderr);
  assert.match(nf.stderr, /no-such-command: not found/);
  const noexec = e.berth(['run', '--rm', 'busy:1', '/etc/passwd']);
  assert.equal(noexec.status, 126, noexec.stderr);
  const unknown = e.berth(['run', '--rm', '--pull', 'never', 'no/such:image', 'true']);
  assert.equal(unknown.status, 125);
  assert.match(unknown.stderr, /Unable to find image 'no\/such:image' locally/);
  assert.equal(e.berth(['run', '--bogus-flag', 'busy:1']).status, 125);
  // failed creates leave no record behind
  assert.deepEqual(e.berth(['ps', '-a', '--format', '{{.Names}}']).stdout, 'three\n');

  const proc = e.berth(['run', '--rm', '-e', 'A=1', '-e', 'B=two words', '-w', '/tmp', '-u', '65534:65534', '--hostname', 'box', 'busy:1', 'sh', '-c', 'echo "$A|$B"; pwd; id -u; id -g; hostname']);
  assert.equal(proc.status, 0, proc.stderr);
  assert.equal(proc.stdout, '1|two words\n/tmp\n65534\n65534\nbox\n');
});

test('berth run: -v bind (ro and rw), --read-only, --rm removes the container', { skip }, (t) => {
  const e = setUp(t, 'mounts');
  const data = fs.mkdtempSync(path.join(path.dirname(e.root), 'data-'));
  fs.writeFileSync(path.join(data, 'f'), 'from the host\n');
  const ro = e.berth(['run', '--rm', '-v', `${data}:/data:ro`, 'busy:1', 'sh', '-c', 'cat /data/f; echo x > /data/g']);
  assert.notEqual(ro.status, 0);
  assert.equal(ro.stdout, 'from the host\n');
  assert.match(ro.stderr, /Read-only file system/);
  assert.equal(fs.existsSync(path.join(data, 'g')), false);
  const rw = e.berth(['run', '--rm', '--mount', `type=bind,source=${data},target=/data`, 'busy:1', 'sh', '-c', 'echo written > /data/g']);
  assert.equal(rw.status, 0, rw.stderr);
  assert.equal(fs.readFileSync(path.join(data, 'g'), 'utf8'), 'written\n');
  const rofs = e.berth(['run', '--rm', '--read-only', 'busy:1', 'sh', '-c', 'echo x > /x']);
  assert.notEqual(rofs.status, 0);
  assert.match(rofs.stderr, /Read-only file system/);
  const writable = e.berth(['run', '--rm', 'busy:1', 'sh', '-c', 'echo x > /x && cat /x']);
  assert.equal(writable.stdout, 'x\n');
  assert.equal(e.berth(['ps', '-aq']).stdout, '');
  const missing = e.berth(['run', '--rm', '-v', '/no/such/dir:/d', 'busy:1', 'true']);
  assert.equal(missing.status, 125);
  assert.match(missing.stderr, /bind source path does not exist/);
});

test('berth run -d: ps, logs, port, rename, stop, start, wait, rm', { skip }, (t) => {
  const e = setUp(t, 'detach');
  const d = e.berth(['run', '-d', '--name', 'ticker', 'busy:1', 'sh', '-c', 'trap "echo bye; exit 0" TERM; i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done']);
  assert.equal(d.status, 0, d.stderr);
  const id = d.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const table = e.berth(['ps']).stdout.split('\n');
  assert.match(table[0]!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  assert.match(table[1]!, new RegExp(`^${id.slice(0, 12)}\\s+busy:1\\s+"sh -c 'trap .*"\\s+.* ago\\s+Up .*\\s+ticker$`));
  const json = JSON.parse(e.berth(['ps', '--format', 'json']).stdout) as Array<Record<string, unknown>>;
  assert.equal(json[0]!['Names'], 'ticker');
  assert.equal(json[0]!['State'], 'running');
  assert.equal(e.berth(['ps', '-q', '--filter', 'name=tick']).stdout, `${id.slice(0, 12)}\n`);
  assert.equal(e.berth(['ps', '-q', '--filter', 'status=exited']).stdout, '');
  // logs: wait for a few lines
  let logs = '';
  for (let i = 0; i < 50 && (logs.match(/line/g) ?? []).length < 3; i++) {
    spawnSync('sleep', ['0.1']);
    logs = e.berth(['logs', 'ticker']).stdout;
  }
  assert.match(logs, /^line0\nline1\nline2\n/);
  assert.equal(e.berth(['logs', '--tail', '1', 'ticker']).stdout.split('\n').length, 2);
  assert.match(e.berth(['logs', '-t', '--tail', '1', 'ticker']).stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line\d+\n$/);
  assert.equal(e.berth(['rename', 'ticker', 'tock']).status, 0);
  assert.equal(e.berth(['inspect', '-f', '{{.Name}} {{.State.Running}}', id.slice(0, 8)]).stdout, '/tock true\n');
  // stop: TERM, the trap answers, exit 0; wait prints it
  const stop = e.berth(['stop', '-t', '5', 'tock']);
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(stop.stdout, 'tock\n');
  assert.equal(e.berth(['wait', 'tock']).stdout, '0\n');
  assert.match(e.berth(['logs', '--tail', '1', 'tock']).stdout, /^bye\n$/);
  assert.match(e.berth(['ps', '-a', '--format', '{{.Status}}']).stdout, /^Exited \(0\) /);
  assert.equal(e.berth(['ps', '-q']).stdout, '');
  // rm of a running container is refused; start again (same id), then rm -f
  const started = e.berth(['start', 'tock']);
  assert.equal(started.status, 0, started.stderr);
  assert.equal(e.berth(['inspect', '-f', '{{.Id}} {{.State.Status}}', 'tock']).stdout, `${id} running\n`);
  const refused = e.berth(['rm', 'tock']);
  assert.equal(refused.status, 125);
  assert.match(refused.stderr, /stop the container before removing or force remove/);
  const killed = e.berth(['kill', '-s', 'KILL', 'tock']);
  assert.equal(killed.status, 0, killed.stderr);
  assert.equal(e.berth(['wait', 'tock']).stdout, '137\n');
  assert.equal(e.berth(['rm', 'tock']).status, 0);
  assert.equal(e.berth(['ps', '-aq']).stdout, '');
  const gone = e.berth(['logs', 'tock']);
  assert.equal(gone.status, 125);
  assert.match(gone.stderr, /No such container: tock/);
  assert.equal(e.berth(['stop', 'nosuch']).status, 125);
});

test('berth run -p 127.0.0.1:PORT:80: reached from the host; rm -f leaves nothing behind', { skip }, async (t) => {
  const e = setUp(t, 'port');
  const port = await freePort();
  const d = e.berth(['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, 'busy:1', 'httpd', '-f', '-p', '80', '-h', '/www']);
  assert.equal(d.status, 0, d.stderr);
  assert.equal(await getWithRetry(`http://127.0.0.1:${port}/index.html`), 'hello from berth\n');
  assert.equal(e.berth(['port', 'web']).stdout, `80/tcp -> 127.0.0.1:${port}\n`);
  assert.equal(e.berth(['port', 'web', '80/tcp']).stdout, `127.0.0.1:${port}\n`);
  assert.match(e.berth(['ps', '--format', '{{.Ports}}']).stdout, new RegExp(`^127\\.0\\.0\\.1:${port}->80/tcp$`, 'm'));
  // the port is taken now: a second container asking for it is refused before anything is made
  const clash = e.berth(['run', '-d', '-p', `127.0.0.1:${port}:80`, 'busy:1', 'true']);
  assert.equal(clash.status, 125);
  assert.match(clash.stderr, new RegExp(`Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated`));

  const insp = JSON.parse(e.berth(['inspect', 'web']).stdout) as Array<{ State: { Pid: number }; NetworkSettings: { IPAddress: string }; Berth: { RuntimeContainerId: string; Rootfs: string; CgroupsPath: string; PodId: string } }>;
  const info = insp[0]!;
  assert.ok(info.State.Pid > 0);
  assert.match(info.NetworkSettings.IPAddress, /^\d+\.\d+\.\d+\.\d+$/);
  // the host end of the pod's veth: the container's eth0 peer index
  const link = execFileSync('nsenter', ['-t', String(info.State.Pid), '-n', 'ip', '-o', 'link', 'show', 'eth0'], { encoding: 'utf8' });
  const peer = Number(/eth0@if(\d+)/.exec(link)?.[1] ?? 'NaN');
  assert.ok(Number.isInteger(peer), link);
  const hostLinks = (): number[] => fs.readdirSync('/sys/class/net').map((n) => Number(fs.readFileSync(`/sys/class/net/${n}/ifindex`, 'utf8').trim()));
  assert.ok(hostLinks().includes(peer));
  const cgroupDir = path.join('/sys/fs/cgroup/memory', info.Berth.CgroupsPath);
  assert.ok(fs.existsSync(cgroupDir), cgroupDir);
  const pauseCmd = (): number[] =>
    fs
      .readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(info.Berth.PodId);
        } catch {
          return false;
        }
      })
      .map(Number);

  const rm = e.berth(['rm', '-f', 'web']);
  assert.equal(rm.status, 0, rm.stderr);
  assert.equal(rm.stdout, 'web\n');
  assert.equal(alive(info.State.Pid), false, 'the container process is gone');
  assert.equal(hostLinks().includes(peer), false, 'the veth is gone');
  assert.equal(fs.existsSync(cgroupDir), false, 'the cgroup is gone');
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  assert.equal(mounts.includes(info.Berth.RuntimeContainerId), false, 'no mount names the container');
  assert.equal(mounts.includes(info.Berth.PodId), false, 'no mount names the pod');
  assert.deepEqual(pauseCmd(), [], 'no process names the pod');
  await assert.rejects(get(`http://127.0.0.1:${port}/index.html`, 1000));
  assert.equal(e.berth(['ps', '-aq']).stdout, '');
  const iptables = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout ?? '';
  assert.equal(iptables.includes(`--dport ${port} `) && iptables.includes(info.NetworkSettings.IPAddress + ':80'), false, 'no DNAT rule is left for the port');
});

test('berth: parallel processes serialise on the engine lock; a dead create is undone; start -a; restart', { skip }, async (t) => {
  const e = setUp(t, 'lock');
  const { spawn } = await import('node:child_process');
  const runOne = (name: string): Promise<number | null> =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [BERTH, '--root', e.root, '--run-root', e.runRoot, '--config', '/dev/null', 'run', '-d', '--name', name, 'busy:1', 'sleep', '60'], { stdio: 'ignore' });
      c.on('exit', (code) => resolve(code));
    });
  const codes = await Promise.all([runOne('p1'), runOne('p2'), runOne('p3'), runOne('p2')]);
  assert.deepEqual(codes.filter((c) => c === 0).length, 3, `exit codes ${codes.join(',')}`);
  assert.deepEqual(codes.filter((c) => c === 125).length, 1, 'one of the two p2 lost the name');
  assert.deepEqual(e.berth(['ps', '--format', '{{.Names}}']).stdout.split('\n').filter(Boolean).sort(), ['p1', 'p2', 'p3']);

  // a record left 'creating' by a creator that died: the next mutation undoes it, ps never shows it
  const recs = path.join(e.root, 'engine', 'records');
  const one = JSON.parse(fs.readFileSync(path.join(recs, fs.readdirSync(recs)[0]!), 'utf8')) as Record<string, unknown>;
  const ghostId = 'd'.repeat(64);
  fs.writeFileSync(path.join(recs, `${ghostId}.json`), JSON.stringify({ ...one, id: ghostId, name: 'ghost', phase: 'creating', containerId: '', podId: '' }));
  assert.equal(e.berth(['ps', '-a', '--format', '{{.Names}}']).stdout.includes('ghost'), false);
  assert.equal(e.berth(['stop', '-t', '0', 'p3']).status, 0);
  assert.equal(fs.existsSync(path.join(recs, `${ghostId}.json`)), false);

  // start -a: attached to the container's output, exits with its code
  assert.equal(e.berth(['create', '--name', 'att', 'busy:1', 'sh', '-c', 'echo attached; exit 6']).status, 0);
  const sa = e.berth(['start', '-a', 'att']);
  assert.equal(sa.status, 6, sa.stderr);
  assert.equal(sa.stdout, 'attached\n');
  // restart: same id, running again
  const id = e.berth(['inspect', '-f', '{{.Id}}', 'p1']).stdout;
  assert.equal(e.berth(['restart', '-t', '0', 'p1']).status, 0);
  assert.equal(e.berth(['inspect', '-f', '{{.Id}}', 'p1']).stdout, id);
  assert.equal(e.berth(['inspect', '-f', '{{.State.Status}}', 'p1']).stdout, 'running\n');
  assert.equal(e.berth(['rm', '-f', 'p1', 'p2', 'p3', 'att']).status, 0);
  assert.equal(e.berth(['ps', '-aq']).stdout, '');
});

test('berth run: --network none and host, --runtime runc, resources and capabilities', { skip }, (t) => {
  const e = setUp(t, 'net');
  const none = e.berth(['run', '--rm', '--network', 'none', 'busy:1', 'sh', '-c', 'ls /sys/class/net | sort | tr "\\n" " "']);
  assert.equal(none.status, 0, none.stderr);
  assert.equal(none.stdout, 'lo ');
  const bridge = e.berth(['run', '--rm', 'busy:1', 'sh', '-c', 'ls /sys/class/net | sort | tr "\\n" " "']);
  assert.equal(bridge.stdout, 'eth0 lo ');
  const host = e.berth(['run', '--rm', '--network', 'host', 'busy:1', 'hostname']);
  assert.equal(host.stdout, `${os.hostname()}\n`);
  const res = e.berth(['run', '--rm', '-m', '64m', '--pids-limit', '20', '--cpus', '0.5', 'busy:1', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us']);
  assert.equal(res.status, 0, res.stderr);
  assert.equal(res.stdout, `${64 * 1024 * 1024}\n20\n50000\n`);
  const caps = e.berth(['run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE', 'busy:1', 'sh', '-c', 'grep CapEff /proc/self/status']);
  assert.equal(caps.stdout, 'CapEff:\t0000000000000400\n');
  const nnp = e.berth(['run', '--rm', '--security-opt', 'no-new-privileges', 'busy:1', 'grep', 'NoNewPrivs', '/proc/self/status']);
  assert.equal(nnp.stdout, 'NoNewPrivs:\t1\n');
  const seccomp = e.berth(['run', '--rm', 'busy:1', 'grep', 'Seccomp:', '/proc/self/status']);
  assert.equal(seccomp.stdout, 'Seccomp:\t2\n');
  const unconfined = e.berth(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busy:1', 'grep', 'Seccomp:', '/proc/self/status']);
  assert.equal(unconfined.stdout, 'Seccomp:\t0\n');
  if (spawnSync('runc', ['--version']).status === 0) {
    const runc = e.berth(['run', '--rm', '--runtime', 'runc', 'busy:1', 'sh', '-c', 'echo via runc; exit 4']);
    assert.equal(runc.status, 4, runc.stderr);
    assert.equal(runc.stdout, 'via runc\n');
    assert.equal(e.berth(['run', '--rm', '--runtime', 'runc', 'busy:1', 'no-such-command']).status, 127);
  }
  const badRt = e.berth(['run', '--rm', '--runtime', 'no-such-runtime', 'busy:1', 'true']);
  assert.equal(badRt.status, 125);
  assert.match(badRt.stderr, /unknown runtime "no-such-runtime"/);
  assert.equal(e.berth(['ps', '-aq']).stdout, '');
});

test('berth start/restart of an exited container keeps its id, name, logs and writable layer', { skip }, (t) => {
  const e = setUp(t, 'layer');
  const d = e.berth(['run', '-d', '--name', 'layer', 'busy:1', 'sh', '-c', 'echo run >> /runs; echo runs=$(wc -l < /runs); sleep 30']);
  assert.equal(d.status, 0, d.stderr);
  const wantLogs = async (n: number): Promise<string> => {
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes(`runs=${n}`); i++) {
      spawnSync('sleep', ['0.1']);
      logs = e.berth(['logs', 'layer']).stdout;
    }
    return logs;
  };
  return (async () => {
    assert.equal(await wantLogs(1), 'runs=1\n');
    assert.equal(e.berth(['stop', '-t', '0', 'layer']).status, 0);
    assert.equal(e.berth(['start', 'layer']).status, 0);
    assert.equal(await wantLogs(2), 'runs=1\nruns=2\n');
    assert.equal(e.berth(['restart', '-t', '0', 'layer']).status, 0);
    assert.equal(await wantLogs(3), 'runs=1\nruns=2\nruns=3\n');
    assert.equal(e.berth(['inspect', '-f', '{{.Id}} {{.Name}}', 'layer']).stdout, `${d.stdout.trim()} /layer\n`);
    assert.equal(e.berth(['rm', '-f', 'layer']).status, 0);
  })();
});

test('berth container prune: stopped containers go, running ones stay', { skip }, (t) => {
  const e = setUp(t, 'prune');
  assert.equal(e.berth(['run', '--name', 'done', 'busy:1', 'true']).status, 0);
  assert.equal(e.berth(['create', '--name', 'fresh', 'busy:1', 'true']).status, 0);
  assert.equal(e.berth(['run', '-d', '--name', 'up', 'busy:1', 'sleep', '30']).status, 0);
  const refused = e.berth(['container', 'prune'], 'n\n');
  assert.equal(refused.status, 0);
  assert.equal(e.berth(['ps', '-aq']).stdout.split('\n').filter(Boolean).length, 3);
  const p = e.berth(['container', 'prune', '-f']);
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n\nTotal reclaimed space: /);
  assert.equal(e.berth(['ps', '-a', '--format', '{{.Names}}']).stdout, 'up\n');
  assert.equal(e.berth(['rm', '-f', 'up']).status, 0);
});

test('berth stop: waits without the lock; --stop-signal; SIGKILL after the timeout', { skip }, async (t) => {
  const e = setUp(t, 'stop');
  const { spawn } = await import('node:child_process');
  // sh as pid 1 ignores TERM: stop waits the whole timeout, then kills
  assert.equal(e.berth(['run', '-d', '--name', 'stubborn', 'busy:1', 'sleep', '60']).status, 0);
  const t0 = Date.now();
  const stopper = spawn(process.execPath, [BERTH, '--root', e.root, '--run-root', e.runRoot, '--config', '/dev/null', 'stop', '-t', '4', 'stubborn'], { stdio: 'ignore' });
  const stopped = new Promise<number | null>((resolve) => stopper.on('exit', (c) => resolve(c)));
  await new Promise((r) => setTimeout(r, 1000));
  const other = e.berth(['run', '--rm', 'busy:1', 'echo', 'meanwhile']);
  assert.equal(other.stdout, 'meanwhile\n');
  assert.ok(Date.now() - t0 < 3800, `another berth command ran during the stop timeout (${Date.now() - t0} ms)`);
  assert.equal(await stopped, 0);
  assert.ok(Date.now() - t0 >= 3900, 'stop waited for the timeout');
  assert.equal(e.berth(['inspect', '-f', '{{.State.ExitCode}}', 'stubborn']).stdout, '137\n');
  // --stop-signal: the container's handler for USR1 ends it at once
  assert.equal(e.berth(['run', '-d', '--name', 'polite', '--stop-signal', 'USR1', 'busy:1', 'sh', '-c', 'trap "exit 0" USR1; while true; do sleep 0.1; done']).status, 0);
  const t1 = Date.now();
  assert.equal(e.berth(['stop', 'polite']).status, 0);
  assert.ok(Date.now() - t1 < 5000);
  assert.equal(e.berth(['inspect', '-f', '{{.State.ExitCode}}', 'polite']).stdout, '0\n');
  assert.equal(e.berth(['rm', 'stubborn', 'polite']).status, 0);
});
