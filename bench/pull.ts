/**
 * Image pull + unpack: berth against `skopeo copy` + `umoci unpack` and containerd's `ctr images pull`,
 * in one run on one machine (absolute times on shared machines are noise; ratios are the result).
 * Not a test. Run as root:
 *
 *   node dist/bench/pull.js [--runs 3] [--contenders berth,skopeo-umoci,ctr] [--diag]
 *                           [--berth-downloads N] [--berth lib|cli|auto] [--json FILE] [--profile DIR]
 *                           [--fs loop|host]
 *
 * Fixture: bench/lib/fixture.ts (8 gzip layers, ~400 MiB uncompressed, cached under
 * /var/tmp/berth-bench-fixture), pushed with skopeo to Debian's docker-registry on 127.0.0.1:<free port>.
 * Every contender starts cold (fresh store / dirs each run); runs are interleaved round-robin so that
 * load drift hits all contenders alike; dirty pages are flushed (sync -f, not timed) between runs. Each
 * run is checked for the whole job: 8 committed snapshots (berth, ctr), a bundle (umoci).
 *   berth:        pullImage + pullUnpacker into overlay snapshots (+ settle), in a child process
 *                 dedicated to the run (`--berth lib`, default while there is no bin/berth), or
 *                 `bin/berth pull` (`--berth cli`).
 *   skopeo-umoci: skopeo copy docker://... oci:DIR:1, then umoci unpack --image DIR:1 BUNDLE.
 *   ctr:          containerd started per run on a private socket with a fresh root (not timed), then
 *                 `ctr images pull --plain-http` (fetch + unpack into its overlayfs snapshotter).
 * --diag adds berth-fetch (the same pull without unpacking) and berth-unpack (the unpack alone, from
 * blobs already in the store, timed inside the child), to show where berth's time goes.
 * --fs loop (default): each run works in a fresh 4 GiB ext4 (sparse image, loop mount) under the temp
 * dir, so that runs do not slow each other through the filesystem (see makeScratchFs); --fs host: in
 * the temp dir itself.
 * --profile DIR writes a V8 CPU profile of every berth child run into DIR (node --cpu-prof).
 * Peak RSS: GNU time %M of each process (for ctr, also the daemon's VmHWM); CPU: user+sys.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureFixture, FIXTURE_TAG, type Fixture } from './lib/fixture';
import { dropScratchFs, makeScratchFs, nowMs, procUsage, removeTree, startContainerd, timed, type Timed } from './lib/proc';
import { haveDockerRegistry, startRegistry, type RegistryServer } from '../test/helpers/registry';
import { ContentStore, ImageStore } from '../src/image/content';
import { pullImage, type PullOptions } from '../src/image/pull';
import { RegistryClient } from '../src/image/registry';
import { Snapshotter, chainIds, pullUnpacker } from '../src/image/snapshot';

const repo = path.resolve(__dirname, '../..');
const self = __filename;
const MB = 1e6;

// ------------------------------------------------------------------------------------- berth child

type ChildMode = 'full' | 'fetch' | 'unpack';

interface LayerTimes {
  index: number;
  compressed: number;
  /** ms since the pull started: first downloading event, download verified, snapshot committed. */
  dlStart?: number;
  dlDone?: number;
  unpacked?: number;
}

interface ChildReport {
  mode: ChildMode;
  driver: string;
  /** The measured part, timed inside the child (ms). */
  ms: number;
  /** settle() after the pull (ms, included in `ms`). */
  settleMs: number;
  layers: LayerTimes[];
  cpuUserS: number;
  cpuSysS: number;
  maxRssKiB: number;
}

async function berthChild(mode: ChildMode, root: string, ref: string, downloads: number | undefined): Promise<void> {
  const store = new ContentStore(root);
  const images = new ImageStore(root);
  const clientOpts = downloads !== undefined ? { maxConcurrentDownloads: downloads } : {};
  if (mode === 'unpack') {
    // not measured: get the blobs into the store
    await pullImage(ref, { store, images, client: new RegistryClient(clientOpts) });
  }
  const snaps = await Snapshotter.open({ root: path.join(root, 'snapshots') });
  const layers = new Map<number, LayerTimes>();
  const lt = (i: number, size: number): LayerTimes => {
    let l = layers.get(i);
    if (!l) layers.set(i, (l = { index: i, compressed: size }));
    return l;
  };
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  const at = (): number => Math.round(nowMs() - t0);
  const opts: PullOptions = {
    store,
    images,
    client: new RegistryClient(clientOpts),
    onProgress: (p) => {
      if (p.kind !== 'layer' || p.index === undefined) return;
      const l = lt(p.index, p.total);
      if ((p.state === 'downloading' || p.state === 'exists') && l.dlStart === undefined) l.dlStart = at();
      if (p.state === 'done' || p.state === 'exists') l.dlDone = at();
    },
  };
  if (mode !== 'fetch') {
    Object.assign(
      opts,
      pullUnpacker(snaps, {
        onLayer: (layer) => {
          lt(layer.index, 0).unpacked = at();
        },
      }),
    );
  }
  const rec = await pullImage(ref, opts);
  let settleMs = 0;
  if (mode !== 'fetch') {
    const top = chainIds(rec.diffIds).at(-1);
    const s0 = nowMs();
    if (top) await snaps.settle(top);
    settleMs = nowMs() - s0;
    if (!top || !(await snaps.stat(top))) throw new Error('top layer not committed');
  }
  const ms = nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  const report: ChildReport = {
    mode,
    driver: snaps.driver,
    ms,
    settleMs,
    layers: [...layers.values()].sort((a, b) => a.index - b.index),
    cpuUserS: cpu.user / 1e6,
    cpuSysS: cpu.system / 1e6,
    maxRssKiB: process.resourceUsage().maxRSS,
  };
  process.stdout.write(JSON.stringify(report) + '\n');
}

// ------------------------------------------------------------------------------------------- parent

interface Sample {
  wallMs: number;
  rssKiB: number;
  cpuS: number;
  /** Extra per-contender detail (daemon RSS, berth's internal report...). */
  note?: string;
  child?: ChildReport;
}

interface Contender {
  name: string;
  describe: string;
  /** One cold run in `work` (a fresh empty directory). */
  run(work: string): Promise<Sample>;
  /** Headline contenders get ratios; diagnostics do not. */
  diag?: boolean;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function countFiles(dir: string, suffix: string): number {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(suffix)).length : 0;
}

/** A contender that did less than the whole job must not look fast. */
function expectCount(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${what}: ${got}, expected ${want}`);
}

/**
 * Flush dirty pages (the previous run's writes and deletes) before the next run, so that one
 * contender's writeback does not land in another's time. Not timed.
 */
function flushDisk(dir: string): void {
  spawnSync('sync', ['-f', dir], { stdio: 'ignore' });
}

function fromTimed(t: Timed): Sample {
  return { wallMs: t.wallMs, rssKiB: t.maxRssKiB, cpuS: t.userS + t.sysS };
}

function berthLib(ref: string, mode: ChildMode, downloads: string | undefined, profileDir: string | undefined): Contender {
  const extra = downloads ? ['--berth-downloads', downloads] : [];
  const nodeFlags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `berth-${mode}-${process.hrtime.bigint()}.cpuprofile`] : [];
  return {
    name: mode === 'full' ? 'berth' : `berth-${mode}`,
    describe:
      mode === 'full'
        ? 'berth library in a dedicated child: pullImage + pullUnpacker (overlay snapshots) + settle'
        : mode === 'fetch'
          ? 'diag: berth pullImage without unpacking (download + gunzip + both digests)'
          : 'diag: berth unpack alone from blobs in the store (timed inside the child)',
    diag: mode !== 'full',
    async run(work) {
      const t = await timed([process.execPath, ...nodeFlags, self, '--child', mode, path.join(work, 'root'), ref, ...extra], path.join(work, 'stderr'));
      const child = JSON.parse(t.stdout.trim().split('\n').pop()!) as ChildReport;
      const s = fromTimed(t);
      if (mode === 'unpack') s.wallMs = child.ms;
      return { ...s, child, note: `driver ${child.driver}, maxRSS(in-process) ${(child.maxRssKiB / 1024).toFixed(0)} MiB` };
    },
  };
}

function berthCli(ref: string, layers: number): Contender {
  return {
    name: 'berth',
    describe: 'bin/berth pull (CLI)',
    async run(work) {
      const t = await timed([path.join(repo, 'bin/berth'), '--root', path.join(work, 'root'), 'pull', '--quiet', ref], path.join(work, 'stderr'));
      expectCount('berth committed snapshots', countFiles(path.join(work, 'root', 'snapshots', 'meta', 'committed'), '.json'), layers);
      return fromTimed(t);
    },
  };
}

function skopeoUmoci(ref: string): Contender {
  return {
    name: 'skopeo-umoci',
    describe: 'skopeo copy docker://... oci:DIR:1, then umoci unpack --image DIR:1 BUNDLE',
    async run(work) {
      const layout = path.join(work, 'oci');
      const a = await timed(['/usr/bin/skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:${FIXTURE_TAG}`], path.join(work, 'stderr-skopeo'));
      const b = await timed(['/usr/bin/umoci', 'unpack', '--image', `${layout}:${FIXTURE_TAG}`, path.join(work, 'bundle')], path.join(work, 'stderr-umoci'));
      if (!fs.existsSync(path.join(work, 'bundle', 'config.json')) || !fs.statSync(path.join(work, 'bundle', 'rootfs', 'var', 'log')).isDirectory()) {
        throw new Error('umoci unpack left no bundle');
      }
      return {
        wallMs: a.wallMs + b.wallMs,
        rssKiB: Math.max(a.maxRssKiB, b.maxRssKiB),
        cpuS: a.userS + a.sysS + b.userS + b.sysS,
        note: `skopeo ${(a.wallMs / 1000).toFixed(1)} s (${(a.maxRssKiB / 1024).toFixed(0)} MiB), umoci ${(b.wallMs / 1000).toFixed(1)} s (${(b.maxRssKiB / 1024).toFixed(0)} MiB)`,
      };
    },
  };
}

function ctrPull(ref: string, layers: number): Contender {
  return {
    name: 'ctr',
    describe: 'containerd (fresh root, private socket) + ctr images pull --plain-http (overlayfs unpack)',
    async run(work) {
      const cd = await startContainerd(path.join(work, 'containerd'));
      try {
        const before = procUsage(cd.pid);
        const t = await timed([...cd.ctr, 'images', 'pull', '--plain-http', ref], path.join(work, 'stderr'));
        const after = procUsage(cd.pid);
        const ls = spawnSync(cd.ctr[0]!, [...cd.ctr.slice(1), 'snapshots', 'ls'], { encoding: 'utf8' });
        expectCount('containerd overlayfs snapshots', ls.stdout.trim().split('\n').length - 1, layers);
        const daemonCpu = after.cpuS - before.cpuS;
        return {
          wallMs: t.wallMs,
          // the work happens in the daemon: report its peak with the client's
          rssKiB: after.hwmKiB + t.maxRssKiB,
          cpuS: t.userS + t.sysS + daemonCpu,
          note: `containerd VmHWM ${(after.hwmKiB / 1024).toFixed(0)} MiB + ctr ${(t.maxRssKiB / 1024).toFixed(0)} MiB; daemon CPU ${daemonCpu.toFixed(1)} s`,
        };
      } finally {
        await cd.stop();
      }
    },
  };
}

async function pushFixture(fx: Fixture, reg: RegistryServer, ref: string, tmp: string): Promise<void> {
  const r = spawnSync('/usr/bin/skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${fx.dir}:${FIXTURE_TAG}`, `docker://${ref}`], {
    encoding: 'utf8',
    env: { ...process.env, TMPDIR: tmp },
  });
  if (r.status !== 0) throw new Error(`skopeo push failed: ${r.stderr}`);
  // The registry must serve exactly the fixture's manifest (skopeo must not have rewritten it).
  const res = await fetch(`${reg.url}/v2/bench/big/manifests/${FIXTURE_TAG}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const got = res.headers.get('docker-content-digest');
  if (got !== fx.manifestDigest) throw new Error(`registry serves manifest ${got}, fixture is ${fx.manifestDigest}`);
}

function fmtMiB(kib: number): string {
  return `${(kib / 1024).toFixed(0)} MiB`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  if (!haveDockerRegistry()) throw new Error('needs docker-registry (Debian package docker-registry)');
  const runs = Number(arg('--runs', '3'));
  const diag = process.argv.includes('--diag');
  const downloads = process.argv.includes('--berth-downloads') ? arg('--berth-downloads', '3') : undefined;
  const berthMode = arg('--berth', 'auto');
  const jsonOut = process.argv.includes('--json') ? arg('--json', '') : undefined;
  const scratch = arg('--fs', 'loop');
  if (scratch !== 'loop' && scratch !== 'host') throw new Error('--fs loop|host');
  const profileDir = process.argv.includes('--profile') ? path.resolve(arg('--profile', '')) : undefined;
  const haveCtr = fs.existsSync('/usr/bin/containerd') && fs.existsSync('/usr/bin/ctr');
  const wanted = arg('--contenders', `berth,skopeo-umoci${haveCtr ? ',ctr' : ''}`).split(',');

  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const fx = await ensureFixture(log);
  log(
    `fixture ${fx.version}: ${fx.layers.length} layers, ${(fx.uncompressedBytes / MB).toFixed(0)} MB uncompressed (tar), ` +
      `${(fx.compressedBytes / MB).toFixed(0)} MB gzip, ${fx.files} files`,
  );

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-pull-'));
  let reg: RegistryServer | undefined;
  const cleanup = async (): Promise<void> => {
    if (reg) await reg.stop().catch(() => undefined);
    reg = undefined;
    removeTree(tmp);
  };
  const onSignal = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    reg = await startRegistry();
    const ref = `${reg.host}/bench/big:${FIXTURE_TAG}`;
    const t0 = nowMs();
    await pushFixture(fx, reg, ref, tmp);
    log(`pushed to ${ref} in ${((nowMs() - t0) / 1000).toFixed(1)} s`);

    const useCli = berthMode === 'cli' || (berthMode === 'auto' && fs.existsSync(path.join(repo, 'bin/berth')));
    const contenders: Contender[] = [];
    for (const w of wanted) {
      if (w === 'berth') contenders.push(useCli ? berthCli(ref, fx.layers.length) : berthLib(ref, 'full', downloads, profileDir));
      else if (w === 'skopeo-umoci') contenders.push(skopeoUmoci(ref));
      else if (w === 'ctr') {
        if (haveCtr) contenders.push(ctrPull(ref, fx.layers.length));
        else log('containerd not installed: ctr skipped');
      } else throw new Error(`unknown contender ${w}`);
    }
    if (diag) contenders.push(berthLib(ref, 'fetch', downloads, profileDir), berthLib(ref, 'unpack', downloads, profileDir));

    flushDisk(tmp);
    const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
    const failures = new Map<string, number>();
    const load0 = os.loadavg();
    for (let r = 0; r < runs; r++) {
      // rotate the order each round
      const order = contenders.map((_c, i) => contenders[(i + r) % contenders.length]!);
      for (const c of order) {
        const work = path.join(tmp, `${c.name}-${r}`);
        const image = `${work}.img`;
        if (scratch === 'loop') makeScratchFs(image, work, 4 * 1024 ** 3);
        else fs.mkdirSync(work);
        try {
          let s: Sample;
          try {
            s = await c.run(work);
          } catch (err) {
            // keep going; keep the evidence (the contender's stderr files and the registry log)
            failures.set(c.name, (failures.get(c.name) ?? 0) + 1);
            const keep = fs.mkdtempSync(path.join(os.tmpdir(), `berth-bench-pull-failure-${c.name}-`));
            for (const f of fs.readdirSync(work)) if (f.startsWith('stderr')) fs.copyFileSync(path.join(work, f), path.join(keep, f));
            fs.copyFileSync(reg.logFile, path.join(keep, 'registry.log'));
            log(`run ${r + 1}/${runs} ${c.name}: FAILED (logs kept in ${keep}): ${(err as Error).message.split('\n').slice(0, 4).join(' | ')}`);
            continue;
          }
          samples.get(c.name)!.push(s);
          log(`run ${r + 1}/${runs} ${c.name}: ${(s.wallMs / 1000).toFixed(2)} s, ${fmtMiB(s.rssKiB)}, CPU ${s.cpuS.toFixed(1)} s${s.note ? ` (${s.note})` : ''}`);
          if (s.child) {
            const lines = s.child.layers.map(
              (l) => `    L${l.index} ${(l.compressed / MB).toFixed(0).padStart(3)} MB gz: dl ${l.dlStart ?? '-'}..${l.dlDone ?? '-'} ms, unpacked ${l.unpacked ?? '-'} ms`,
            );
            log(`    (child: ${s.child.ms.toFixed(0)} ms measured inside, settle ${s.child.settleMs.toFixed(0)} ms, CPU user ${s.child.cpuUserS.toFixed(1)} s sys ${s.child.cpuSysS.toFixed(1)} s)`);
            log(lines.join('\n'));
          }
        } finally {
          if (scratch === 'loop') dropScratchFs(image, work);
          else removeTree(work);
          flushDisk(tmp);
        }
      }
    }
    const load1 = os.loadavg();

    const headline = contenders.find((c) => c.name === 'berth');
    const berthMed = headline ? median(samples.get('berth')!.map((s) => s.wallMs)) : undefined;
    const rows = contenders.map((c) => {
      const ss = samples.get(c.name)!;
      const n = ss.length;
      if (n === 0) ss.push({ wallMs: NaN, rssKiB: NaN, cpuS: NaN });
      const wall = median(ss.map((s) => s.wallMs));
      return {
        name: c.name,
        describe: c.describe,
        runs: n,
        failed: failures.get(c.name) ?? 0,
        medianS: wall / 1000,
        minS: Math.min(...ss.map((s) => s.wallMs)) / 1000,
        maxS: Math.max(...ss.map((s) => s.wallMs)) / 1000,
        mbPerS: fx.uncompressedBytes / MB / (wall / 1000),
        rssMiB: median(ss.map((s) => s.rssKiB)) / 1024,
        cpuS: median(ss.map((s) => s.cpuS)),
        berthOverPeer: berthMed !== undefined && c.name !== 'berth' && !c.diag ? berthMed / wall : undefined,
      };
    });
    const out = [
      `pull + unpack of ${fx.layers.length} gzip layers, ${(fx.uncompressedBytes / MB).toFixed(0)} MB uncompressed / ${(fx.compressedBytes / MB).toFixed(0)} MB compressed, ${fx.files} files; ${runs} cold runs each`,
      `work dirs: ${scratch === 'loop' ? 'a fresh ext4 (loop) per run' : `host ${os.tmpdir()}`}; ${os.cpus().length} CPUs, load average ${load0.map((x) => x.toFixed(1)).join(' ')} -> ${load1.map((x) => x.toFixed(1)).join(' ')}`,
      '',
      'contender      median     min     max    MB/s  peak RSS  CPU(u+s)  berth/peer  failed runs',
      ...rows.map(
        (r) =>
          `${r.name.padEnd(13)} ${r.medianS.toFixed(2).padStart(6)} s ${r.minS.toFixed(2).padStart(6)} ${r.maxS.toFixed(2).padStart(7)} ${r.mbPerS.toFixed(1).padStart(7)} ${r.rssMiB.toFixed(0).padStart(5)} MiB ${r.cpuS.toFixed(1).padStart(7)} s  ${(r.berthOverPeer !== undefined ? r.berthOverPeer.toFixed(2) : '').padEnd(10)}  ${r.failed || ''}`,
      ),
      '',
      ...rows.map((r) => `  ${r.name}: ${r.describe}`),
    ];
    process.stdout.write(out.join('\n') + '\n');
    if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), fixture: fx, load0, load1, rows, samples: Object.fromEntries(samples) }, null, 2));
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}

if (process.argv[2] === '--child') {
  const mode = process.argv[3] as ChildMode;
  const dl = process.argv.indexOf('--berth-downloads');
  berthChild(mode, process.argv[4]!, process.argv[5]!, dl > 0 ? Number(process.argv[dl + 1]) : undefined).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
