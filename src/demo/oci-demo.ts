/**
 * The low-level demo (`bash scripts/demo.sh --oci`): build a busybox bundle from the host's
 * busybox-static, run it with berth-oci, and show that hostname, pid and mount namespaces are isolated
 * from the host.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeBusyboxRootfs } from './busybox-rootfs';

const repo = path.resolve(__dirname, '../../..');
const berthOci = path.join(repo, 'bin/berth-oci');

function oci(root: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(berthOci, ['--root', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `create` hands its own stdio to the container process, which outlives the command: capturing it
 * through pipes would wait for the container to exit. stdout is dropped, stderr goes to a file.
 */
function ociCreate(root: string, args: string[], errFile: string): { status: number; stdout: string; stderr: string } {
  const fd = fs.openSync(errFile, 'w');
  try {
    const r = spawnSync(berthOci, ['--root', root, 'create', ...args], { stdio: ['ignore', 'ignore', fd] });
    return { status: r.status ?? 128, stdout: '', stderr: fs.readFileSync(errFile, 'utf8') };
  } finally {
    fs.closeSync(fd);
  }
}

function must(what: string, r: { status: number; stdout: string; stderr: string }): string {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

function main(): number {
  if (process.getuid?.() !== 0) {
    console.error('demo: berth-oci creates namespaces, mounts and cgroups: run it as root');
    return 1;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-demo-'));
  const root = path.join(work, 'state');
  const bundle = path.join(work, 'bundle');
  const id = `berth-demo-${process.pid}`;
  try {
    console.log(`== making a bundle from busybox-static in ${bundle}`);
    makeBusyboxRootfs(path.join(bundle, 'rootfs'));
    must('berth-oci spec', oci(root, ['spec', '--bundle', bundle]));
    const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.hostname = 'berth-demo';
    config.process.args = [
      '/bin/sh',
      '-c',
      'echo "hostname: $(hostname)"; echo "pid of this shell: $$"; echo "processes visible:"; ps -o pid,comm; ' +
        'echo "mounts: $(wc -l < /proc/self/mounts)"; echo "root:" $(ls /)',
    ];
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));

    console.log(`== on the host: hostname ${os.hostname()}, ${fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).length} processes, ` +
      `${fs.readFileSync('/proc/self/mounts', 'utf8').trim().split('\n').length} mounts`);
    console.log(`== berth-oci run --bundle ${bundle} ${id}`);
    const t0 = process.hrtime.bigint();
    const run = oci(root, ['run', '--bundle', bundle, id]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    process.stdout.write(run.stdout);
    if (run.status !== 0) throw new Error(`berth-oci run exited ${run.status}: ${run.stderr.trim()}`);
    console.log(`== container exited 0 after ${ms.toFixed(1)} ms`);

    console.log('== create / start / state / kill / delete');
    config.process.args = ['/bin/sleep', '300'];
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
    must('create', ociCreate(root, ['--bundle', bundle, id], path.join(work, 'create.err')));
    console.log(`state after create: ${JSON.parse(must('state', oci(root, ['state', id]))).status}`);
    must('start', oci(root, ['start', id]));
    const st = JSON.parse(must('state', oci(root, ['state', id])));
    console.log(`state after start: ${st.status} (pid ${st.pid} on the host)`);
    must('kill', oci(root, ['kill', id, 'KILL']));
    for (let i = 0; i < 100; i++) {
      if (JSON.parse(must('state', oci(root, ['state', id]))).status === 'stopped') break;
      spawnSync('sleep', ['0.05']);
    }
    console.log(`state after kill: ${JSON.parse(must('state', oci(root, ['state', id]))).status}`);
    must('delete', oci(root, ['delete', id]));
    console.log('== done: container deleted');
    return 0;
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    return 1;
  } finally {
    oci(root, ['delete', '--force', id]);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = main();
