/**
 * berth-oci against runc and crun, in one run on one machine (absolute times on shared machines are
 * noise; ratios are the result). Not a test.
 *
 *   node dist/bench/oci.js [--runs 50] [--runtimes berth,runc,crun]
 *
 * Two measurements per runtime, each repeated --runs times, sequentially:
 *   run:    `RT run --bundle B id` of a busybox bundle whose process is /bin/true
 *   cycle:  `RT create --pid-file` + `RT start` + wait for the pid to exit + `RT delete`
 * Every runtime gets its own copy of the same bundle and its own --root. crun refuses this host's cgroup
 * v1 hybrid layout, so its measurements run in a private mount namespace with /sys/fs/cgroup/unified
 * unmounted (a worker process started under `unshare -m`); the others run in the host namespace.
 * Peak RSS: of one `run` per runtime, from GNU time (Debian package `time`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeBusyboxRootfs } from '../src/demo/busybox-rootfs';

const repo = path.resolve(__dirname, '../..');

interface Runtime {
  name: string;
  argv: string[];
}

function runtimeArgv(name: string): string[] {
  switch (name) {
    case 'berth':
      return [path.join(repo, 'bin/berth-oci')];
    case 'runc':
      return ['/usr/sbin/runc'];
    case 'crun':
      return ['/usr/bin/crun'];
    default:
      throw new Error(`unknown runtime ${name}`);
  }
}

let errLog = '';

/**
 * Runs a runtime command. stderr goes to a file, not a pipe: `create` leaves the container's init
 * holding the stdio it was given, and a pipe would keep spawnSync waiting until the container exits.
 */
function sh(argv: string[], allowFail = false): void {
  const fd = fs.openSync(errLog, 'w');
  let status: number | null;
  try {
    status = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', fd] }).status;
  } finally {
    fs.closeSync(fd);
  }
  if (status !== 0 && !allowFail) throw new Error(`${argv.join(' ')}: exit ${status}: ${fs.readFileSync(errLog, 'utf8')}`);
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function makeBundle(dir: string): void {
  makeBusyboxRootfs(path.join(dir, 'rootfs'));
  const r = spawnSync('/usr/sbin/runc', ['spec', '--bundle', dir]);
  if (r.status !== 0) throw new Error('runc spec failed');
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  cfg.process.terminal = false;
  cfg.process.args = ['/bin/true'];
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
}

/** Runs inside the (possibly private-namespace) worker: prints JSON {run: ms[], cycle: ms[]}. */
function worker(rt: Runtime, runs: number, work: string): void {
  const bundle = path.join(work, `bundle-${rt.name}`);
  errLog = path.join(work, `stderr-${rt.name}`);
  const root = path.join(work, `root-${rt.name}`);
  makeBundle(bundle);
  const run: number[] = [];
  const cycle: number[] = [];
  const base = [...rt.argv, '--root', root];
  // one warm-up of each, not counted
  sh([...base, 'run', '--bundle', bundle, `warm-${rt.name}`]);
  for (let i = 0; i < runs; i++) {
    const id = `b-${rt.name}-${i}`;
    const t0 = nowMs();
    sh([...base, 'run', '--bundle', bundle, id]);
    run.push(nowMs() - t0);
  }
  for (let i = 0; i < runs; i++) {
    const id = `c-${rt.name}-${i}`;
    const t0 = nowMs();
    const pidFile = path.join(work, `pid-${rt.name}`);
    sh([...base, 'create', '--bundle', bundle, '--pid-file', pidFile, id]);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    sh([...base, 'start', id]);
    // wait for /bin/true to finish (delete of a running container fails); polled in-process so no
    // runtime's own start-up cost is added here
    while (alive(pid)) Atomics.wait(sleeper, 0, 0, 1);
    sh([...base, 'delete', id]);
    cycle.push(nowMs() - t0);
  }
  // GNU time reports the peak RSS of the runtime process tree it waited for (KiB).
  const rss = spawnSync('/usr/bin/time', ['-f', '%M', ...base, 'run', '--bundle', bundle, `rss-${rt.name}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const rssKiB = Number(rss.stderr.trim().split('\n').pop());
  process.stdout.write(JSON.stringify({ run, cycle, rssKiB }));
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[idx];
}

interface Result {
  run: number[];
  cycle: number[];
  rssKiB: number;
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--worker') {
    worker({ name: args[1], argv: runtimeArgv(args[1]) }, Number(args[2]), args[3]);
    return;
  }
  let runs = 50;
  let names = ['berth', 'runc', 'crun'];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--runs') runs = Number(args[++i]);
    else if (args[i] === '--runtimes') names = args[++i].split(',');
    else throw new Error(`unknown argument ${args[i]}`);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-oci-'));
  const results = new Map<string, Result>();
  try {
    for (const name of names) {
      const self = [process.execPath, __filename, '--worker', name, String(runs), work];
      const argv =
        name === 'crun'
          ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"', 'sh', ...self]
          : self;
      process.stderr.write(`bench: ${name} x${runs} ...\n`);
      const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) {
        process.stderr.write(`bench: ${name} failed (exit ${r.status}): ${r.stderr.trim().slice(-400)}\n`);
        continue;
      }
      results.set(name, JSON.parse(r.stdout) as Result);
    }
  } finally {
    for (const name of names) {
      const root = path.join(work, `root-${name}`);
      if (!fs.existsSync(root)) continue;
      for (const id of fs.readdirSync(root)) {
        spawnSync(runtimeArgv(name)[0], ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }

  const berth = results.get('berth');
  const fmt = (x: number): string => x.toFixed(1).padStart(7);
  console.log(`berth-oci benchmark, ${runs} sequential runs each, ${os.cpus().length} cores`);
  console.log('runtime   run median    p90   cycle median    p90   peak RSS');
  for (const [name, r] of results) {
    console.log(
      `${name.padEnd(8)} ${fmt(quantile(r.run, 0.5))} ms ${fmt(quantile(r.run, 0.9))} ms  ${fmt(quantile(r.cycle, 0.5))} ms ${fmt(quantile(r.cycle, 0.9))} ms  ${(r.rssKiB / 1024).toFixed(1)} MiB`,
    );
  }
  if (berth) {
    console.log('ratios (berth / peer; below 1.00 means berth is faster):');
    for (const [name, r] of results) {
      if (name === 'berth') continue;
      const ratio = (a: number[], b: number[], q: number): string => (quantile(a, q) / quantile(b, q)).toFixed(2);
      console.log(
        `  vs ${name.padEnd(5)} run median ${ratio(berth.run, r.run, 0.5)}  p90 ${ratio(berth.run, r.run, 0.9)}   cycle median ${ratio(berth.cycle, r.cycle, 0.5)}  p90 ${ratio(berth.cycle, r.cycle, 0.9)}`,
      );
    }
  }
}

main();
