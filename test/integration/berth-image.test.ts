/**
 * berth's image commands driven as a user would: spawned `bin/berth` processes against a local
 * docker-registry (test/helpers/registry.ts) and a temporary --root. Root is needed only for the
 * overlay snapshots the pull unpacks into (the copy driver is used otherwise).
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { ContentStore } from '../../src/image/content';
import { RegistryClient, pushImage } from '../../src/image/registry';
import { parseReference } from '../../src/image/ref';
import { haveDockerRegistry, startProxy, startRegistry, type RegistryServer } from '../helpers/registry';
import { buildImage, busyboxEntries, generatedEntries, storeBlobs, type TestImage } from '../helpers/registry-images';
import { makeBusyboxRootfs } from '../helpers/bundle';

const REPO = path.resolve(__dirname, '..', '..', '..');
const BERTH = path.join(REPO, 'bin', 'berth');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function berth(root: string, args: string[], opts: { input?: Buffer | string } = {}): Run {
  const r = spawnSync(process.execPath, [BERTH, '--root', root, '--config', path.join(root, '..', 'none.toml'), ...args], {
    input: opts.input ?? '',
    encoding: 'buffer',
    maxBuffer: 256 << 20,
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

let registry: RegistryServer | undefined;
let work: string;
let image: TestImage;
let ref: string;

const skip = !haveDockerRegistry() ? 'docker-registry is not installed' : undefined;

before(async () => {
  if (skip) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-'));
  fs.writeFileSync(path.join(work, 'none.toml'), '');
  registry = await startRegistry();
  image = await buildImage({
    format: 'oci',
    layers: [
      { entries: busyboxEntries(), compression: 'gzip' },
      { entries: generatedEntries('a', 4 << 20, 1 << 20), compression: 'gzip' },
    ],
    cmd: ['/bin/sh'],
  });
  const store = new ContentStore(path.join(work, 'push-src'));
  await storeBlobs(store, image.blobs);
  ref = `${registry.host}/test/busy:1`;
  await pushImage(new RegistryClient(), store, image.manifestDesc, parseReference(ref));
});

after(async () => {
  await registry?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function newRoot(name: string): string {
  const r = path.join(work, name);
  fs.mkdirSync(r, { recursive: true });
  return r;
}

test('pull prints one line per layer state change off a terminal, then the name', { skip }, () => {
  const root = newRoot('plain');
  const r = berth(root, ['pull', ref]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], `1: Pulling from ${registry!.host}/test/busy`);
  for (const l of image.layers) {
    const id = l.desc.digest.slice(7, 19);
    assert.ok(lines.includes(`${id}: Pull complete`), r.stdout);
    assert.ok(lines.some((x) => x.startsWith(`${id}: Downloading`)), r.stdout);
    // never a progress bar or an escape sequence off a terminal
    assert.ok(!r.stdout.includes('\x1b['));
    assert.equal(lines.filter((x) => x.startsWith(`${id}: Downloading`)).length, 1, 'one line per state, not per byte count');
  }
  assert.ok(lines.includes(`Digest: ${image.manifestDesc.digest}`));
  assert.ok(lines.includes(`Status: Downloaded newer image for ${registry!.host}/test/busy:1`));
  assert.equal(lines.at(-1), `${registry!.host}/test/busy:1`);
  // layers are unpacked into snapshots
  const meta = fs.readdirSync(path.join(root, 'snapshots', 'meta', 'committed'));
  assert.equal(meta.length, 2);

  const again = berth(root, ['pull', ref]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /Already exists/);
  assert.match(again.stdout, /Status: Image is up to date for/);

  const q = berth(newRoot('quiet'), ['pull', '-q', ref]);
  assert.equal(q.status, 0, q.stderr);
  assert.equal(q.stdout, `${registry!.host}/test/busy:1\n`);
});

test('pull on a terminal redraws per-layer progress lines', { skip }, () => {
  const root = newRoot('tty');
  const cmd = [process.execPath, BERTH, '--root', root, '--config', path.join(work, 'none.toml'), 'pull', ref].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, COLUMNS: '120' } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const out = r.stdout;
  assert.match(out, /\x1b\[\d+A\r\x1b\[2K/, 'cursor-up redraws');
  assert.match(out, /: Downloading \[=*>? *\] +[\d.]+[kM]?B\/[\d.]+[kM]?B/);
  assert.match(out, /: Pull complete/);
  assert.ok(out.trimEnd().endsWith(`${registry!.host}/test/busy:1`), out.slice(-300));
});

test('images, inspect, tag, save, rmi, load keep the image ID', { skip }, () => {
  const root = newRoot('roundtrip');
  assert.equal(berth(root, ['pull', '-q', ref]).status, 0);
  const id = image.configDesc.digest;

  const table = berth(root, ['images']);
  assert.equal(table.status, 0, table.stderr);
  const [header, row] = table.stdout.trimEnd().split('\n');
  assert.match(header!, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
  assert.match(row!, new RegExp(`^${registry!.host}/test/busy +1 +${id.slice(7, 19)} +\\S.* ago +[\\d.]+MB$`));
  // columns line up
  assert.equal(header!.indexOf('TAG'), row!.indexOf('1 '));

  const json = JSON.parse(berth(root, ['images', '--format', 'json']).stdout) as Array<Record<string, string>>;
  assert.equal(json.length, 1);
  assert.equal(json[0]!.ID, id.slice(7, 19));
  assert.equal(json[0]!.Tag, '1');
  assert.equal(berth(root, ['images', '-q']).stdout, `${id.slice(7, 19)}\n`);
  assert.equal(berth(root, ['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout, `${registry!.host}/test/busy:1\n`);

  const insp = JSON.parse(berth(root, ['inspect', ref]).stdout) as Array<Record<string, unknown>>;
  assert.equal(insp[0]!.Id, id);
  assert.deepEqual(insp[0]!.RepoTags, [`${registry!.host}/test/busy:1`]);
  assert.deepEqual(insp[0]!.RepoDigests, [`${registry!.host}/test/busy@${image.manifestDesc.digest}`]);
  assert.deepEqual((insp[0]!.RootFS as { Layers: string[] }).Layers, image.layers.map((l) => l.diffId));
  assert.equal(insp[0]!.Architecture, 'amd64');
  assert.deepEqual((insp[0]!.Config as { Cmd: string[] }).Cmd, ['/bin/sh']);
  // by short ID too
  assert.equal(berth(root, ['inspect', '--format', '{{.Id}}', id.slice(7, 15)]).stdout, `${id}\n`);

  assert.equal(berth(root, ['tag', ref, 'mine/busy:2']).status, 0);
  const tags = berth(root, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']).stdout.trim().split('\n').sort();
  assert.deepEqual(tags, [`${registry!.host}/test/busy:1 ${id.slice(7, 19)}`, `mine/busy:2 ${id.slice(7, 19)}`].sort());
  assert.equal(berth(root, ['images', '--filter', 'reference=mine/*', '--format', '{{.Repository}}:{{.Tag}}']).stdout, 'mine/busy:2\n');
  assert.equal(berth(root, ['images', 'mine/busy', '-q']).stdout, `${id.slice(7, 19)}\n`);
  assert.equal(berth(root, ['images', '-f', 'dangling=true', '-q']).stdout, '');
  // an ID with two repositories needs -f
  const refused = berth(root, ['rmi', id.slice(7, 19)]);
  assert.equal(refused.status, 125);
  assert.match(refused.stderr, /must be forced/);

  const archive = path.join(work, 'busy.tar');
  const saved = berth(root, ['save', '-o', archive, 'mine/busy:2']);
  assert.equal(saved.status, 0, saved.stderr);
  // the same to stdout
  const piped = spawnSync(process.execPath, [BERTH, '--root', root, 'save', 'mine/busy:2'], { maxBuffer: 256 << 20 });
  assert.equal(piped.status, 0);
  assert.deepEqual(piped.stdout, fs.readFileSync(archive), 'save to stdout and to a file give the same bytes');

  const rmi = berth(root, ['rmi', 'mine/busy:2', ref]);
  assert.equal(rmi.status, 0, rmi.stderr);
  assert.equal(rmi.stdout, `Untagged: mine/busy:2\nUntagged: ${registry!.host}/test/busy:1\nDeleted: ${id}\n`);
  assert.equal(berth(root, ['images', '-q']).stdout, '');
  assert.deepEqual(fs.readdirSync(path.join(root, 'blobs', 'sha256')), [], 'content freed');
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots', 'meta', 'committed')), [], 'snapshots freed');

  const load = berth(root, ['load'], { input: fs.readFileSync(archive) });
  assert.equal(load.status, 0, load.stderr);
  assert.equal(load.stdout, 'Loaded image: mine/busy:2\n');
  assert.equal(berth(root, ['images', '-q', '--no-trunc']).stdout, `${id}\n`);
  assert.equal(fs.readdirSync(path.join(root, 'snapshots', 'meta', 'committed')).length, 2, 'loaded layers unpacked');

  // OCI layout tar, loaded from a file
  const oci = path.join(work, 'busy-oci.tar');
  assert.equal(berth(root, ['save', '--format', 'oci', '-o', oci, 'mine/busy:2']).status, 0);
  const root2 = newRoot('roundtrip-oci');
  const l2 = berth(root2, ['load', '-i', oci]);
  assert.equal(l2.status, 0, l2.stderr);
  assert.equal(berth(root2, ['images', '-q', '--no-trunc']).stdout, `${id}\n`);
});

test('load reads a docker-archive written by skopeo; skopeo reads what save writes', { skip: skip ?? (fs.existsSync('/usr/bin/skopeo') ? undefined : 'skopeo is not installed') }, () => {
  const root = newRoot('skopeo');
  assert.equal(berth(root, ['pull', '-q', ref]).status, 0);
  const id = image.configDesc.digest;
  // berth save (OCI layout tar) -> skopeo -> docker-archive -> berth load into a fresh root
  const ociTar = path.join(work, 'skopeo-in.tar');
  assert.equal(berth(root, ['save', '--format', 'oci', '-o', ociTar, ref]).status, 0);
  const dockerTar = path.join(work, 'skopeo-out.tar');
  const cp = spawnSync('skopeo', ['copy', '--quiet', `oci-archive:${ociTar}:1`, `docker-archive:${dockerTar}:skopeo/made:3`], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(cp.status, 0, cp.stderr);
  const root2 = newRoot('skopeo-load');
  const load = berth(root2, ['load', '-i', dockerTar]);
  assert.equal(load.status, 0, load.stderr);
  assert.equal(load.stdout, 'Loaded image: skopeo/made:3\n');
  assert.equal(berth(root2, ['images', '-q', '--no-trunc']).stdout, `${id}\n`, 'same image ID through skopeo');
  // and skopeo reads berth's docker-archive
  const saved = path.join(work, 'berth-docker.tar');
  assert.equal(berth(root2, ['save', '-o', saved, 'skopeo/made:3']).status, 0);
  const insp = spawnSync('skopeo', ['inspect', '--config', `docker-archive:${saved}`], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(insp.status, 0, insp.stderr);
  assert.deepEqual((JSON.parse(insp.stdout) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids, image.layers.map((l) => l.diffId));
});

test('Ctrl-C during a pull stops it cleanly; the next pull completes', { skip }, async () => {
  const proxy = await startProxy(registry!.host, [{ match: (m, u) => m === 'GET' && u.includes('/blobs/'), action: { throttle: 512 * 1024 } }]);
  try {
    const root = newRoot('sigint');
    const via = `${proxy.host}/test/busy:1`;
    const child = spawn(process.execPath, [BERTH, '--root', root, '--config', path.join(work, 'none.toml'), 'pull', via], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (!sent && out.includes(': Downloading')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 125, out + err);
    assert.match(err, /^berth: pull .*test\/busy:1: interrupted; run the same pull again to resume\n$/);
    assert.deepEqual(fs.readdirSync(path.join(root, 'leases')), [], 'lease released');
    assert.equal(berth(root, ['images', '-q']).stdout, '', 'no image recorded');
    assert.ok(fs.readdirSync(path.join(root, 'ingest')).length > 0, 'partial downloads kept for resuming');
    // (directly from the registry: the proxy helper does not serve again after a client vanished
    // mid-throttle; the blobs, and so the ingests to resume, are the same)
    const again = berth(root, ['pull', '-q', ref]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(berth(root, ['images', '-q', '--no-trunc']).stdout, `${image.configDesc.digest}\n`);
  } finally {
    await proxy.close();
  }
});

test('import makes a single-layer image from a rootfs tarball', { skip }, () => {
  const root = newRoot('import');
  const rootfs = path.join(work, 'rootfs');
  makeBusyboxRootfs(rootfs);
  const tgz = path.join(work, 'rootfs.tgz');
  assert.equal(spawnSync('tar', ['-C', rootfs, '-czf', tgz, '.']).status, 0);
  const r = berth(root, ['import', '-c', 'CMD ["/bin/sh"]', '--change', 'ENV A=1', tgz, 'box:imported']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const insp = JSON.parse(berth(root, ['inspect', 'box:imported']).stdout) as Array<{ Id: string; RootFS: { Layers: string[] }; Config: { Cmd: string[]; Env: string[] } }>;
  assert.equal(insp[0]!.Id, r.stdout.trim());
  assert.equal(insp[0]!.RootFS.Layers.length, 1);
  assert.deepEqual(insp[0]!.Config.Cmd, ['/bin/sh']);
  assert.ok(insp[0]!.Config.Env.includes('A=1'));
  // from stdin, without a name
  const s = berth(root, ['import', '-'], { input: fs.readFileSync(tgz) });
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^sha256:[0-9a-f]{64}\n$/);
  assert.notEqual(s.stdout, r.stdout, 'other config (no changes), other ID');
  const rows = berth(root, ['images', '--format', '{{.Repository}} {{.Tag}} {{.ID}}']).stdout.trim().split('\n').sort();
  assert.deepEqual(rows, [`box imported ${r.stdout.slice(7, 19)}`, `import <none> ${s.stdout.slice(7, 19)}`].sort());
  // the layer is unpacked: one snapshot per distinct rootfs tar (both imports share it)
  assert.equal(fs.readdirSync(path.join(root, 'snapshots', 'meta', 'committed')).length, 1);
});

test('image prune removes unused images and their content', { skip }, () => {
  const root = newRoot('prune');
  assert.equal(berth(root, ['pull', '-q', ref]).status, 0);
  const dangling = berth(root, ['image', 'prune', '-f']);
  assert.equal(dangling.status, 0, dangling.stderr);
  assert.equal(dangling.stdout, 'Total reclaimed space: 0B\n');
  const all = berth(root, ['image', 'prune', '-a', '-f']);
  assert.equal(all.status, 0, all.stderr);
  assert.match(all.stdout, /^Deleted Images:\nuntagged: .*test\/busy:1\ndeleted: sha256:/);
  assert.match(all.stdout, /Total reclaimed space: [\d.]+MB\n$/);
  assert.deepEqual(fs.readdirSync(path.join(root, 'blobs', 'sha256')), []);
});

test('errors: unknown image, bad reference, bad flag -> 125 with a message to act on', { skip }, () => {
  const root = newRoot('errors');
  const unknown = berth(root, ['image', 'inspect', 'nosuch']);
  assert.equal(unknown.status, 125);
  assert.match(unknown.stderr, /image "nosuch:latest" not found locally; try: berth pull nosuch:latest/);
  // top-level inspect looks for containers and images alike, and says so as docker does
  const either = berth(root, ['inspect', 'nosuch']);
  assert.equal(either.status, 125);
  assert.match(either.stderr, /No such object: nosuch/);
  const rmi = berth(root, ['rmi', 'nosuch:2']);
  assert.equal(rmi.status, 125);
  assert.match(rmi.stderr, /berth: image "nosuch:2" not found locally/);
  const bad = berth(root, ['pull', 'Bad/Ref:']);
  assert.equal(bad.status, 125);
  assert.match(bad.stderr, /^berth: invalid image reference "Bad\/Ref:"/);
  const flag = berth(root, ['images', '--nope']);
  assert.equal(flag.status, 125);
  assert.equal(flag.stderr, "berth: unknown flag: --nope\nSee 'berth images --help'.\n");
  const missing = berth(root, ['pull', `${registry!.host}/test/absent:1`]);
  assert.equal(missing.status, 125);
  assert.match(missing.stderr, /^berth: /);
});
