/**
 * berth's image commands: thin front ends over src/image/service and the image libraries.
 */
import * as fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { BerthError } from '../../runtime/errors';
import { displayName, imageId, login, logout, imageSummaries, importRootfs, inspectImage, matchesReference, type ImageService } from '../../image/service';
import { canonical, familiarName, parseReference, DEFAULT_TAG } from '../../image/ref';
import { parsePlatform } from '../../image/manifest/platform';
import { exportDockerArchive, exportOciLayout, importArchive } from '../../image/archive';
import { pushImage } from '../../image/registry';
import type { PullProgress } from '../../image/pull';
import type { ImageRecord } from '../../image/content';
import { ProgressView, type LayerUpdate } from '../common/progress';
import { renderTable } from '../common/table';
import { humanSize, shortId } from '../common/units';
import { timeAgo } from '../common/time';
import { formatRows, parseTemplate, renderTemplate, type Column } from '../common/format';
import { filterBool, parseFilters } from '../common/filter';
import type { Flags } from './args';
import type { Context } from './context';

/** The same error with what was being done in front of its message (code kept). */
function withContext(err: unknown, what: string): BerthError {
  const msg = err instanceof Error ? err.message : String(err);
  const code = err instanceof BerthError ? err.code : 'INTERNAL';
  return new BerthError(code, `${what}: ${msg}`, { cause: err });
}

// ---- pull ----------------------------------------------------------------------------------------

/** Map the pull's events to layer lines; `unpack` says whether layers are extracted after download. */
export function pullEventToUpdate(p: PullProgress, unpack: boolean): LayerUpdate | undefined {
  if (p.kind !== 'layer') return undefined;
  const base = { id: p.id, current: p.current, total: p.total };
  switch (p.state) {
    case 'waiting':
      return { ...base, state: 'waiting' };
    case 'resolving':
      return { ...base, state: 'queued' };
    case 'downloading':
      return { ...base, state: 'downloading' };
    case 'verifying':
      return { ...base, state: 'verifying' };
    case 'done':
      return { ...base, state: unpack ? 'extracting' : 'downloaded' };
    case 'exists':
      return { ...base, state: 'exists' };
    case 'error':
      return p.error !== undefined ? { ...base, state: 'error', error: p.error } : { ...base, state: 'error' };
  }
}

export async function cmdPull(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const input = args[0]!;
  if (flags.bool('all-tags')) throw new BerthError('UNSUPPORTED', 'pull --all-tags is not supported; pull each tag by name');
  const ref = parseReference(input);
  const quiet = flags.bool('quiet');
  const platformFlag = flags.string('platform');
  const platform = platformFlag !== undefined ? parsePlatform(platformFlag) : undefined;
  const tty = ctx.stdout.isTTY === true;
  const view = quiet ? undefined : new ProgressView(ctx.stdout, { tty, columns: ctx.stdout.columns ?? 0 });
  const svc = ctx.images();
  const digestByIndex = new Map<number, string>();
  const hasTag = input.includes(':') && input.lastIndexOf(':') > input.lastIndexOf('/');
  if (view) {
    if (!hasTag && ref.digest === undefined) view.message(`Using default tag: ${DEFAULT_TAG}`);
    view.message(`${ref.digest ?? ref.tag ?? DEFAULT_TAG}: Pulling from ${familiarName(ref)}`);
  }
  const opts: Parameters<ImageService['pull']>[1] = {
    onProgress: (p) => {
      if (p.kind === 'layer' && p.index !== undefined) digestByIndex.set(p.index, p.id);
      const u = pullEventToUpdate(p, true);
      if (u && view) view.update(u);
    },
    onUnpacked: (l) => {
      const d = digestByIndex.get(l.index);
      if (d && view) view.update({ id: d, state: 'complete' });
    },
  };
  if (platform) opts.platform = platform;
  // Ctrl-C: abort cleanly (partial downloads stay resumable, leases and locks are released).
  const abort = new AbortController();
  const onSigint = (): void => abort.abort(new BerthError('FAILED_PRECONDITION', 'interrupted; run the same pull again to resume'));
  process.once('SIGINT', onSigint);
  opts.signal = abort.signal;
  let pulled: Awaited<ReturnType<ImageService['pull']>>;
  try {
    pulled = await svc.pull(input, opts);
  } catch (err) {
    throw withContext(abort.signal.aborted ? abort.signal.reason : err, `pull ${displayName(canonical(ref))}`);
  } finally {
    process.off('SIGINT', onSigint);
  }
  const { record, previous } = pulled;
  if (view) {
    view.message(`Digest: ${record.target.digest}`);
    const shown = displayName(record.name);
    view.message(previous && previous.target.digest === record.target.digest ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}`);
  }
  ctx.out(`${record.name}\n`);
  return 0;
}

// ---- images --------------------------------------------------------------------------------------

const IMAGE_COLUMNS: Column[] = [
  { field: 'Repository', header: 'REPOSITORY' },
  { field: 'Tag', header: 'TAG' },
  { field: 'ID', header: 'IMAGE ID' },
  { field: 'CreatedSince', header: 'CREATED' },
  { field: 'Size', header: 'SIZE' },
];

export async function cmdImages(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const svc = ctx.images();
  let list = await imageSummaries(svc);
  if (args[0] !== undefined) list = list.filter((s) => matchesReference(s.Name, args[0]!));
  const filters = parseFilters(flags.list('filter'), ['reference', 'dangling']);
  const refs = filters.get('reference');
  if (refs) list = list.filter((s) => refs.some((r) => matchesReference(s.Name, r)));
  for (const d of filters.get('dangling') ?? []) {
    const want = filterBool('dangling', d);
    list = list.filter((s) => (s.Tag === '<none>') === want);
  }
  const noTrunc = flags.bool('no-trunc');
  const id = (d: string): string => (noTrunc ? d : shortId(d));
  if (flags.bool('quiet')) {
    const seen = new Set<string>();
    for (const s of list) {
      if (seen.has(s.ID)) continue;
      seen.add(s.ID);
      ctx.out(`${id(s.ID)}\n`);
    }
    return 0;
  }
  const now = Date.now();
  const rows = list.map((s) => ({
    Repository: s.Repository,
    Tag: s.Tag,
    Digest: s.Digest,
    ID: id(s.ID),
    CreatedAt: s.CreatedAt,
    CreatedSince: timeAgo(s.CreatedAt, now),
    Size: humanSize(s.Size),
    Containers: 'N/A',
    Name: s.Name,
  }));
  const columns = flags.bool('digests')
    ? [IMAGE_COLUMNS[0]!, IMAGE_COLUMNS[1]!, { field: 'Digest', header: 'DIGEST' }, ...IMAGE_COLUMNS.slice(2)]
    : IMAGE_COLUMNS;
  const spec: Parameters<typeof formatRows>[1] = { columns };
  const format = flags.string('format');
  if (format !== undefined) spec.format = format;
  ctx.out(formatRows(rows, spec, renderTable));
  return 0;
}

// ---- rmi -----------------------------------------------------------------------------------------

export async function cmdRmi(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const svc = ctx.images();
  let failed = 0;
  for (const a of args) {
    try {
      const r = await svc.remove(a, flags.bool('force'));
      for (const u of r.untagged) ctx.out(`Untagged: ${displayName(u)}\n`);
      if (r.deleted) ctx.out(`Deleted: ${r.deleted}\n`);
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      failed++;
      ctx.err(`berth: ${err.message}\n`);
    }
  }
  return failed ? 125 : 0;
}

// ---- inspect -------------------------------------------------------------------------------------

export async function cmdInspect(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const type = flags.string('type');
  if (type !== undefined && type !== 'image') {
    throw new BerthError('INVALID_ARGUMENT', `inspect --type ${type}: only images can be inspected yet (containers come with berth run)`);
  }
  const svc = ctx.images();
  const docs: unknown[] = [];
  const errors: string[] = [];
  for (const a of args) {
    try {
      const f = await svc.find(a);
      docs.push(await inspectImage(svc, f.byName ? [f.byName, ...f.records.filter((r) => r !== f.byName)] : f.records));
    } catch (err) {
      if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND') throw err;
      errors.push(`berth: ${err.message}`);
    }
  }
  const format = flags.string('format');
  if (format !== undefined && format !== 'json') {
    const parts = parseTemplate(format);
    for (const d of docs) ctx.out(renderTemplate(parts, d as Record<string, unknown>, new Set(Object.keys(d as object))) + '\n');
  } else {
    ctx.out(JSON.stringify(docs, null, 4) + '\n');
  }
  for (const e of errors) ctx.err(`${e}\n`);
  return errors.length ? 125 : 0;
}

// ---- tag -----------------------------------------------------------------------------------------

export async function cmdTag(ctx: Context, _flags: Flags, args: string[]): Promise<number> {
  await ctx.images().tag(args[0]!, args[1]!);
  return 0;
}

// ---- load / import / save ------------------------------------------------------------------------

function refuseTerminalInput(ctx: Context, what: string): void {
  if (ctx.io.stdin.isTTY) throw new BerthError('INVALID_ARGUMENT', `${what}: reading from a terminal; give a file (${what === 'load' ? '-i FILE' : 'FILE'}) or redirect the input (berth ${what} < FILE)`);
}

export async function cmdLoad(ctx: Context, flags: Flags): Promise<number> {
  const svc = ctx.images();
  const file = flags.string('input');
  let result;
  const stores = { content: svc.content, images: svc.images };
  if (file !== undefined && file !== '-') {
    if (!fs.existsSync(file)) throw new BerthError('NOT_FOUND', `load: ${file}: no such file`);
    result = await importArchive(stores, file);
  } else {
    refuseTerminalInput(ctx, 'load');
    result = await importArchive(stores, { stream: ctx.io.stdin });
  }
  for (const rec of result.images) {
    await svc.unpack(rec);
    ctx.out(`Loaded image: ${displayName(rec.name)}\n`);
  }
  return 0;
}

export async function cmdImport(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const svc = ctx.images();
  const file = args[0]!;
  let input;
  if (file === '-') {
    refuseTerminalInput(ctx, 'import');
    input = ctx.io.stdin;
  } else {
    if (!fs.existsSync(file)) throw new BerthError('NOT_FOUND', `import: ${file}: no such file`);
    input = fs.createReadStream(file);
  }
  const opts: Parameters<typeof importRootfs>[2] = { changes: flags.list('change'), source: file === '-' ? 'stdin' : file };
  if (args[1] !== undefined) opts.reference = args[1];
  const msg = flags.string('message');
  if (msg !== undefined) opts.message = msg;
  const rec = await importRootfs(svc, input, opts);
  await svc.unpack(rec);
  ctx.out(`${imageId(rec)}\n`);
  return 0;
}

/** Record names for the images a person named (a name, or an ID: all its names). */
async function namesFor(svc: ImageService, inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of inputs) {
    const f = await svc.find(a);
    const recs: ImageRecord[] = f.byName ? [f.byName] : f.records;
    for (const r of recs) if (!out.includes(r.name)) out.push(r.name);
  }
  return out;
}

export async function cmdSave(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const svc = ctx.images();
  const names = await namesFor(svc, args);
  const stores = { content: svc.content, images: svc.images };
  const output = flags.string('output');
  const format = flags.string('format') ?? 'docker';
  const save = (dest: Parameters<typeof exportDockerArchive>[2]) =>
    format === 'oci' ? exportOciLayout(stores, names, dest) : exportDockerArchive(stores, names, dest);
  if (output !== undefined && output !== '-') {
    await save({ tarPath: output });
    return 0;
  }
  if (ctx.stdout.isTTY) {
    throw new BerthError('INVALID_ARGUMENT', 'refusing to write an image archive to a terminal; use -o FILE or redirect the output (berth save IMAGE > FILE)');
  }
  const sink = ctx.io.binaryOut ?? process.stdout;
  const pass = new PassThrough();
  pass.pipe(sink, { end: false });
  const drained = new Promise<void>((resolve) => pass.on('end', resolve));
  await save({ stream: pass });
  await drained;
  return 0;
}

// ---- prune ---------------------------------------------------------------------------------------

async function confirm(ctx: Context, question: string): Promise<boolean> {
  ctx.out(`${question} [y/N] `);
  const stdin = ctx.io.stdin;
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (c: Buffer | string): void => {
      buf += c.toString();
      if (buf.includes('\n')) done();
    };
    const done = (): void => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    stdin.on('data', onData);
    stdin.on('end', done);
    stdin.resume();
  });
  return /^y(es)?$/i.test(line.trim());
}

export async function cmdImagePrune(ctx: Context, flags: Flags): Promise<number> {
  const all = flags.bool('all');
  if (!flags.bool('force')) {
    const what = all ? 'all images without at least one container associated to them' : 'all dangling images (content no image name holds)';
    if (!(await confirm(ctx, `WARNING! This will remove ${what}.\nAre you sure you want to continue?`))) return 0;
  }
  const r = await ctx.images().prune(all);
  if (r.untagged.length || r.deleted.length) {
    ctx.out('Deleted Images:\n');
    for (const u of r.untagged) ctx.out(`untagged: ${displayName(u)}\n`);
    for (const d of r.deleted) ctx.out(`deleted: ${d}\n`);
    ctx.out('\n');
  }
  ctx.out(`Total reclaimed space: ${humanSize(r.bytes)}\n`);
  return 0;
}

// ---- push ----------------------------------------------------------------------------------------

export async function cmdPush(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const svc = ctx.images();
  const input = args[0]!;
  const ref = parseReference(input);
  const f = await svc.find(input);
  const rec = f.byName;
  if (!rec) throw new BerthError('INVALID_ARGUMENT', `push: give a name (repository:tag), not an image ID; tag it first: berth tag ${input} REGISTRY/NAME:TAG`);
  const quiet = flags.bool('quiet');
  if (!quiet) ctx.out(`The push refers to repository [${canonical({ domain: ref.domain, path: ref.path })}]\n`);
  // One platform's manifest: what this store holds for sure (an index's other platforms may be absent).
  const target = (await svc.content.has(rec.target.digest)) && rec.target.digest === rec.manifest.digest ? rec.target : rec.manifest;
  const digest = await pushImage(svc.client(), svc.content, target, ref, {
    onBlob: (d, result) => {
      if (!quiet) ctx.out(`${shortId(d)}: ${result === 'exists' ? 'Layer already exists' : result === 'mounted' ? 'Mounted from another repository' : 'Pushed'}\n`);
    },
  }).catch((err: unknown) => {
    throw withContext(err, `push ${displayName(canonical(ref))}`);
  });
  if (quiet) ctx.out(`${canonical(ref)}\n`);
  else ctx.out(`${ref.tag ?? ref.digest}: digest: ${digest} size: ${target.size}\n`);
  return 0;
}

// ---- login / logout ------------------------------------------------------------------------------

async function readAll(stdin: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const c of stdin as AsyncIterable<Buffer | string>) s += c.toString();
  return s;
}

export async function cmdLogin(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const username = flags.string('username');
  let password = flags.string('password');
  if (flags.bool('password-stdin')) {
    if (password !== undefined) throw new BerthError('INVALID_ARGUMENT', 'login: --password and --password-stdin are mutually exclusive');
    password = (await readAll(ctx.io.stdin)).replace(/\r?\n$/, '');
  }
  if (username === undefined || username === '' || password === undefined || password === '') {
    throw new BerthError('INVALID_ARGUMENT', 'login: give -u USER and a password (--password-stdin is safest: echo "$PASS" | berth login -u USER --password-stdin SERVER)');
  }
  if (flags.has('password')) ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  const o: Parameters<typeof login>[2] = { hostsDir: ctx.global.hostsDir };
  if (ctx.global.dockerConfig !== undefined) o.configFile = ctx.global.dockerConfig;
  const r = await login(args[0], { username, password }, o);
  ctx.err(`Credentials for ${r.registry} saved in ${r.file}\n`);
  ctx.out('Login Succeeded\n');
  return 0;
}

export async function cmdLogout(ctx: Context, _flags: Flags, args: string[]): Promise<number> {
  const o: Parameters<typeof logout>[1] = {};
  if (ctx.global.dockerConfig !== undefined) o.configFile = ctx.global.dockerConfig;
  const removed = await logout(args[0], o);
  const shown = args[0] ?? 'docker.io';
  ctx.out(removed ? `Removing login credentials for ${shown}\n` : `Not logged in to ${shown}\n`);
  return 0;
}
