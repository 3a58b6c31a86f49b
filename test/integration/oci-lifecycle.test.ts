/**
 * berth-oci as a subprocess over busybox bundles: exit statuses, the create/start/kill/delete
 * lifecycle, list, ps, pause/resume, exec, hooks in order, delete removing cgroup and state.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot } from '../helpers/bundle';
import { leftoverCgroups, ociEnv, waitFor } from '../helpers/oci';

const skip = !isRoot() && 'needs root';

test('run /bin/true exits 0, sh -c "exit 3" exits 3, and the state is gone afterwards', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['/bin/true']);
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.existsSync(path.join(env.root, env.id)), false, 'run without --keep deletes the state');
  env.config(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  const r3 = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r3.code, 3, r3.stderr);
  assert.equal(r3.stdout, 'out\n');
  assert.match(r3.stderr, /err/);
  assert.deepEqual(leftoverCgroups(env.id), []);
});

test('run --keep keeps a stopped container until delete', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'exit 7']);
  assert.equal(env.oci(['run', '--keep', '--bundle', env.bundle.dir, env.id]).code, 7);
  assert.equal(env.state()?.status, 'stopped');
  assert.equal(env.oci(['delete', env.id]).code, 0);
  assert.equal(env.state(), null);
});

test('create, state created, start, running, kill, stopped, delete', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60']);
  const pidFile = path.join(env.bundle.dir, 'pid');
  const c = env.oci(['create', '--bundle', env.bundle.dir, '--pid-file', pidFile, env.id]);
  assert.equal(c.code, 0, c.stderr);
  const s1 = env.state();
  assert.equal(s1?.status, 'created');
  assert.equal(s1?.id, env.id);
  assert.equal(s1?.bundle, env.bundle.dir);
  assert.equal(s1?.ociVersion, '1.2.0');
  assert.ok(s1!.pid > 0);
  assert.equal(fs.readFileSync(pidFile, 'utf8'), String(s1!.pid));
  assert.equal(env.oci(['create', '--bundle', env.bundle.dir, env.id]).code, 1, 'the id is taken');
  const st = env.oci(['start', env.id]);
  assert.equal(st.code, 0, st.stderr);
  assert.equal(env.state()?.status, 'running');
  const again = env.oci(['start', env.id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already running/);
  const d = env.oci(['delete', env.id]);
  assert.equal(d.code, 1, 'a running container is not deleted without --force');
  assert.match(d.stderr, /not stopped/);
  assert.equal(env.oci(['kill', env.id, 'KILL']).code, 0);
  assert.ok(await waitFor(() => env.state()?.status === 'stopped'));
  assert.equal(env.state()?.pid, 0);
  assert.equal(env.oci(['kill', env.id, 'KILL']).code, 1, 'killing a stopped container fails');
  assert.equal(env.oci(['delete', env.id]).code, 0);
  assert.equal(env.state(), null);
  assert.equal(fs.existsSync(path.join(env.root, env.id)), false);
  assert.deepEqual(leftoverCgroups(env.id), []);
});

test('kill takes signals by name and number; delete of a created container needs --force', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done']);
  assert.equal(env.oci(['run', '-d', '--bundle', env.bundle.dir, env.id]).code, 0);
  assert.equal(env.oci(['kill', env.id, 'SIGBOGUS']).code, 1);
  assert.equal(env.oci(['kill', env.id, '15']).code, 0);
  assert.ok(await waitFor(() => env.state()?.status === 'stopped'), 'SIGTERM handled by the trap');
  assert.equal(env.oci(['delete', env.id]).code, 0);
  const id2 = `${env.id}-b`;
  env.config(['sleep', '60']);
  assert.equal(env.oci(['create', '--bundle', env.bundle.dir, id2]).code, 0);
  assert.equal(env.oci(['delete', id2]).code, 1, 'a created container is not stopped: plain delete fails');
  assert.equal(env.state(id2)?.status, 'created', 'and has no effect');
  assert.equal(env.oci(['delete', '--force', id2]).code, 0);
  assert.equal(env.state(id2), null);
});

test('list (table, json, -q) and ps (json, table)', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'sleep 60 & sleep 61']);
  assert.equal(env.oci(['run', '-d', '--bundle', env.bundle.dir, env.id]).code, 0);
  const lj = env.oci(['list', '--format', 'json']);
  assert.equal(lj.code, 0);
  const list = JSON.parse(lj.stdout) as { id: string; status: string; pid: number; bundle: string }[];
  assert.equal(list.length, 1);
  assert.equal(list[0]!.id, env.id);
  assert.equal(list[0]!.status, 'running');
  assert.equal(list[0]!.bundle, env.bundle.dir);
  const table = env.oci(['list']).stdout.split('\n');
  assert.match(table[0]!, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
  assert.match(table[1]!, new RegExp(`^${env.id}\\s+${list[0]!.pid}\\s+running\\s+`));
  assert.equal(env.oci(['list', '-q']).stdout, `${env.id}\n`);
  const pj = env.oci(['ps', '--format', 'json', env.id]);
  assert.equal(pj.code, 0, pj.stderr);
  const pids = JSON.parse(pj.stdout) as number[];
  assert.ok(pids.length >= 2, `sh and its sleeps: ${pj.stdout}`);
  assert.ok(pids.includes(list[0]!.pid));
  const pt = env.oci(['ps', env.id]);
  assert.equal(pt.code, 0, pt.stderr);
  assert.match(pt.stdout, /sleep 60/);
  assert.equal(pt.stdout.trim().split('\n').length, pids.length + 1);
});

test('pause and resume', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60']);
  assert.equal(env.oci(['run', '-d', '--bundle', env.bundle.dir, env.id]).code, 0);
  assert.equal(env.oci(['pause', env.id]).code, 0);
  assert.equal(env.state()?.status, 'paused');
  const pid = env.state()!.pid;
  assert.match(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!, /^[DS]/);
  assert.equal(env.oci(['pause', env.id]).code, 1, 'already paused');
  assert.equal(env.oci(['resume', env.id]).code, 0);
  assert.equal(env.state()?.status, 'running');
  assert.equal(env.oci(['resume', env.id]).code, 1, 'not paused');
  // delete --force of a paused container kills it
  assert.equal(env.oci(['pause', env.id]).code, 0);
  assert.equal(env.oci(['delete', '--force', env.id]).code, 0);
  assert.equal(env.state(), null);
  assert.deepEqual(leftoverCgroups(env.id), []);
});

test('exec into a running container: output, exit status, env, cwd, user, detach', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60']);
  assert.equal(env.oci(['run', '-d', '--bundle', env.bundle.dir, env.id]).code, 0);
  const r = env.oci(['exec', '--env', 'FOO=bar', '--cwd', '/tmp', '-u', '65534:65534', env.id, 'sh', '-c', 'echo $FOO $(pwd) $(id -u):$(id -g); exit 4']);
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stdout, 'bar /tmp 65534:65534\n');
  const procFile = path.join(env.bundle.dir, 'process.json');
  fs.writeFileSync(procFile, JSON.stringify({ args: ['sh', '-c', 'echo from-file'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }));
  const pf = env.oci(['exec', '--process', procFile, env.id]);
  assert.equal(pf.code, 0, pf.stderr);
  assert.equal(pf.stdout, 'from-file\n');
  fs.writeFileSync(procFile, JSON.stringify({ args: [], cwd: '/', user: { uid: 0, gid: 0 } }));
  const bad = env.oci(['exec', '--process', procFile, env.id]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /process\.args/);
  const pidFile = path.join(env.bundle.dir, 'exec.pid');
  const d = env.oci(['exec', '-d', '--pid-file', pidFile, env.id, 'sleep', '30']);
  assert.equal(d.code, 0, d.stderr);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const pids = JSON.parse(env.oci(['ps', '-f', 'json', env.id]).stdout) as number[];
  assert.ok(pids.includes(pid), 'the exec\'d process is in the container\'s cgroup');
  const nsOf = (p: number, ns: string) => fs.readlinkSync(`/proc/${p}/ns/${ns}`);
  for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net']) assert.equal(nsOf(pid, ns), nsOf(env.state()!.pid, ns), ns);
  env.oci(['kill', env.id, 'KILL']);
  assert.ok(await waitFor(() => env.state()?.status === 'stopped'));
  const late = env.oci(['exec', env.id, 'true']);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /stopped/);
});

test('hooks run in order with the state on stdin; poststop after delete', { skip }, (t) => {
  const env = ociEnv(t);
  const hookDir = fs.mkdtempSync(path.join(env.bundle.dir, 'hooks-'));
  const log = path.join(hookDir, 'log');
  fs.writeFileSync(log, '');
  // Host-side hooks append their name and the status they were given.
  const host = (name: string) => ({ path: '/bin/sh', args: ['sh', '-c', `read -r s; echo "${name} $(echo "$s" | grep -o '"status":"[a-z]*"')" >> ${log}`] });
  env.config(['sh', '-c', 'echo container >> /hooks/log'], (spec) => {
    spec.mounts!.push({ destination: '/hooks', type: 'bind', source: hookDir, options: ['rbind', 'rw'] });
    spec.hooks = {
      prestart: [host('prestart')],
      createRuntime: [host('createRuntime')],
      // createContainer runs in the container's mount namespace before pivot_root: host paths resolve.
      createContainer: [{ path: '/bin/sh', args: ['sh', '-c', `echo createContainer >> ${log}`] }],
      // startContainer runs after pivot_root: the path and the log are the container's.
      startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'echo startContainer >> /hooks/log'] }],
      poststart: [host('poststart')],
      poststop: [host('poststop')],
    };
  });
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  const names = lines.map((l) => l.split(' ')[0]);
  // poststart runs in the runtime while the container runs: it may come before or after its line.
  const withoutPoststart = names.filter((n) => n !== 'poststart');
  assert.deepEqual(withoutPoststart, ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'container', 'poststop'], lines.join('\n'));
  assert.ok(names.includes('poststart'), lines.join('\n'));
  assert.match(lines[0]!, /"status":"created"/);
  assert.match(lines.find((l) => l.startsWith('poststop'))!, /"status":"stopped"/);
});

test('a failing prestart hook fails create and leaves nothing; failing poststart/poststop only warn', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['true'], (spec) => {
    spec.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', 'echo nope >&2; exit 2'] }] };
  });
  const r = env.oci(['create', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /prestart hook failed.*exit status 2.*nope/);
  assert.equal(fs.existsSync(path.join(env.root, env.id)), false);
  assert.deepEqual(leftoverCgroups(env.id), []);
  const logFile = path.join(env.bundle.dir, 'oci.log');
  env.config(['true'], (spec) => {
    spec.hooks = {
      poststart: [{ path: '/bin/false' }],
      poststop: [{ path: '/nonexistent/hook' }],
    };
  });
  const ok = env.oci(['--log', logFile, '--log-format', 'json', 'run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(ok.code, 0, ok.stderr);
  const entries = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
  assert.ok(entries.some((e) => e.level === 'warning' && /poststart hook failed/.test(e.msg)));
  assert.ok(entries.some((e) => e.level === 'warning' && /poststop hook failed/.test(e.msg)));
});

test('update changes limits; events --stats reports them', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60']);
  assert.equal(env.oci(['run', '-d', '--bundle', env.bundle.dir, env.id]).code, 0);
  const u = env.oci(['update', '--memory', '64m', '--pids-limit', '50', env.id]);
  assert.equal(u.code, 0, u.stderr);
  const ev = env.oci(['events', '--stats', env.id]);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout) as { type: string; id: string; data: { memory: { usage: { limit: number } }; pids: { current: number; limit: number } } };
  assert.equal(e.type, 'stats');
  assert.equal(e.id, env.id);
  assert.equal(e.data.memory.usage.limit, 64 * 1024 * 1024);
  assert.equal(e.data.pids.limit, 50);
  assert.ok(e.data.pids.current >= 1);
  const resFile = path.join(env.bundle.dir, 'res.json');
  fs.writeFileSync(resFile, JSON.stringify({ pids: { limit: 20 } }));
  assert.equal(env.oci(['update', '--resources', resFile, env.id]).code, 0);
  const e2 = JSON.parse(env.oci(['events', '--stats', env.id]).stdout) as { data: { pids: { limit: number } } };
  assert.equal(e2.data.pids.limit, 20);
});

test('a memory limit OOM-kills a hog and the kernel counts the OOM kill', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'x=0123456789; while :; do x="$x$x"; done'], (spec) => {
    spec.linux!.resources = { ...(spec.linux!.resources ?? {}), memory: { limit: 16 * 1024 * 1024, swap: 16 * 1024 * 1024 } };
  });
  const r = env.oci(['run', '--keep', '--bundle', env.bundle.dir, env.id], { timeoutMs: 60_000 });
  assert.equal(r.code, 137, `killed by SIGKILL: ${r.stderr}`);
  assert.equal(env.state()?.status, 'stopped');
  const oom = Number(fs.readFileSync(`/sys/fs/cgroup/memory/${env.id}/memory.oom_control`, 'utf8').match(/oom_kill (\d+)/)?.[1] ?? 0);
  assert.ok(oom >= 1, 'the kernel counted an OOM kill in the container cgroup');
  assert.equal(env.oci(['delete', env.id]).code, 0);
  assert.deepEqual(leftoverCgroups(env.id), []);
});

test('oomScoreAdj is applied; a refused lowering is clamped with a warning', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['cat', '/proc/self/oom_score_adj'], (spec) => {
    spec.process!.oomScoreAdj = 500;
  });
  const r = env.oci(['run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '500');
  const current = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
  env.config(['cat', '/proc/self/oom_score_adj'], (spec) => {
    spec.process!.oomScoreAdj = -999;
  });
  const logFile = path.join(env.bundle.dir, 'oom.log');
  const low = env.oci(['--log', logFile, '--log-format', 'json', 'run', '--bundle', env.bundle.dir, env.id]);
  assert.equal(low.code, 0, low.stderr);
  const got = Number(low.stdout.trim());
  if (got !== -999) {
    // This host's root lacks CAP_SYS_RESOURCE: the value stays where it was, and the log says so.
    assert.ok(got >= current, `${got} >= ${current}`);
    assert.match(fs.readFileSync(logFile, 'utf8'), /"level":"warning".*oom_score_adj -999 refused/);
  }
});

test('kill --all signals every process in the container', { skip }, async (t) => {
  const env = ociEnv(t);
  // No pid namespace: killing the init process would not take the others with it.
  env.config(['sh', '-c', 'sleep 60 & sleep 61 & wait'], (spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'pid');
  });
  assert.equal(env.oci(['run', '-d', '--bundle', env.bundle.dir, env.id]).code, 0);
  let pids: number[] = [];
  assert.ok(await waitFor(() => (pids = JSON.parse(env.oci(['ps', '-f', 'json', env.id]).stdout) as number[]).length >= 3));
  assert.equal(env.oci(['kill', '--all', env.id, 'KILL']).code, 0);
  const gone = (p: number) => !fs.existsSync(`/proc/${p}`) || / Z /.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(')')[1] ?? '');
  assert.ok(await waitFor(() => pids.every(gone)), 'every process is gone');
  assert.ok(await waitFor(() => env.state()?.status === 'stopped'));
  assert.equal(env.oci(['delete', env.id]).code, 0);
  assert.deepEqual(leftoverCgroups(env.id), []);
});

test('--cgroup-manager disabled: no cgroup, ps knows only the init process, pause refuses', { skip }, (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60'], (spec) => {
    delete spec.linux!.resources;
  });
  const g = ['--cgroup-manager', 'disabled'];
  const r = env.oci([...g, 'run', '-d', '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(leftoverCgroups(env.id), []);
  const pid = env.state()!.pid;
  assert.deepEqual(JSON.parse(env.oci([...g, 'ps', '-f', 'json', env.id]).stdout), [pid]);
  const p = env.oci([...g, 'pause', env.id]);
  assert.equal(p.code, 1);
  assert.match(p.stderr, /without cgroups/);
  assert.equal(env.oci([...g, 'delete', '--force', env.id]).code, 0);
  assert.equal(env.state(), null);
});
