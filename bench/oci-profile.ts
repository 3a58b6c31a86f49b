/**
 * Where berth-oci's time goes (not a test; bench/oci-startup.md has the results and the reasoning).
 *
 *   node dist/bench/oci-profile.js [--runs 20]
 *
 * Interleaves, --runs times each, so that load changes on a shared machine hit every variant alike:
 *   node -e 0                         bare Node start-up and exit (with and without NODE_EXTRA_CA_CERTS)
 *   berth-oci --version               start-up + loading the CLI (bundle + code cache, and plain dist/)
 *   berth-oci --debug run /bin/true   the whole run, with the phase timestamps create/run log
 * and prints medians. Rebuild the bundle first (npm run build:bundle): a tsc run after it makes it
 * stale and the launcher then falls back to dist/ (the two variants would then measure the same). Phase times come from the library's own debug lines (performance.now() since
 * the start of createContainer / runContainer), so they cost nothing when --debug is off.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeBusyboxRootfs } from '../src/demo/busybox-rootfs';

const repo = path.resolve(__dirname, '../..');
const berth = path.join(repo, 'bin/berth-oci');

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
}

function timed(argv: string[], env: NodeJS.ProcessEnv): { ms: number; stderr: string } {
  const t0 = nowMs();
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = nowMs() - t0;
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return { ms, stderr: r.stderr };
}

function main(): void {
  const args = process.argv.slice(2);
  let runs = 20;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--runs') runs = Number(args[++i]);
    else throw new Error(`unknown argument ${args[i]}`);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-oci-profile-'));
  const bundle = path.join(work, 'bundle');
  const root = path.join(work, 'root');
  try {
    makeBusyboxRootfs(path.join(bundle, 'rootfs'));
    const r = spawnSync('/usr/sbin/runc', ['spec', '--bundle', bundle]);
    if (r.status !== 0) throw new Error('runc spec failed');
    const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    cfg.process.terminal = false;
    cfg.process.args = ['/bin/true'];
    // Ambient capabilities without inheritable ones cannot be raised; leave them out (timing only).
    if (cfg.process.capabilities) delete cfg.process.capabilities.ambient;
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(cfg));

    const plainEnv = { ...process.env, BERTH_OCI_NO_BUNDLE: '1' };
    const noCaEnv = { ...process.env };
    delete noCaEnv.NODE_EXTRA_CA_CERTS;
    const series = new Map<string, number[]>();
    const add = (k: string, v: number): void => {
      const a = series.get(k) ?? [];
      a.push(v);
      series.set(k, a);
    };
    for (let i = 0; i < runs; i++) {
      add('node -e 0', timed([process.execPath, '-e', '0'], process.env).ms);
      // bin/berth-oci's shebang drops NODE_EXTRA_CA_CERTS (Node parses that file at start-up)
      add('node -e 0 without NODE_EXTRA_CA_CERTS', timed([process.execPath, '-e', '0'], noCaEnv).ms);
      add('--version (bundle)', timed([berth, '--version'], process.env).ms);
      add('--version (plain dist/)', timed([berth, '--version'], plainEnv).ms);
      for (const [label, env] of [
        ['bundle', process.env],
        ['plain dist/', plainEnv],
      ] as const) {
        const res = timed([berth, '--root', root, '--debug', 'run', '--bundle', bundle, `p${i}-${label === 'bundle' ? 'b' : 'p'}`], env);
        add(`run (${label})`, res.ms);
        for (const line of res.stderr.split('\n')) {
          const m = /msg="(?:create|run) [^:]+: (.*?) at ([0-9.]+) ms"/.exec(line);
          if (m) add(`  run (${label}) phase: ${m[1].replace(/^pid \d+$/, 'pid').replace(/^executor \d+ placed$/, 'executor placed in cgroups').replace(/^exited \d+$/, 'exited')}`, Number(m[2]));
          const l = /msg="run: loaded at ([0-9.]+) ms since process start"/.exec(line);
          if (l) add(`  run (${label}) phase: CLI loaded (since process start)`, Number(l[1]));
        }
      }
    }
    console.log(`berth-oci profile: medians of ${runs} interleaved runs, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
    for (const [k, v] of series) console.log(`${k.padEnd(58)} ${median(v).toFixed(1).padStart(7)} ms`);
  } finally {
    if (fs.existsSync(root)) {
      for (const id of fs.readdirSync(root)) spawnSync(berth, ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
