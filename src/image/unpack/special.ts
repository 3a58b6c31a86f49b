/**
 * Operations Node cannot do: mknod (devices, fifos, overlay whiteouts) and setxattr.
 *
 * Rather than a native addon, they are queued and run in batches, two processes per batch at most:
 * the nodes are written as a small tar (absolute, already-resolved paths) and extracted by GNU tar
 * (`tar -x -P`), and the xattrs are written in getfattr's dump format and applied by one
 * `setfattr -h --restore=-` (Debian's `attr` package). Only when one of these reports a failure is
 * the failed part re-run item by item (`sh` calling mknod/setfattr, paths as positional arguments),
 * to name each failure. A batch runs before anything in the tree is removed or replaced (so every
 * queued path still names the directory it was resolved in, with no symlink on the way) and at the
 * end of the layer.
 */
import { spawn } from 'node:child_process';
import { lstatSync } from 'node:fs';
import * as tar from 'tar-stream';
import { BerthError } from '../../runtime/errors';

export type SpecialOp =
  | { op: 'mknod'; path: string; kind: 'c' | 'b' | 'p'; major: number; minor: number; mode: number; uid?: number; gid?: number }
  | { op: 'xattr'; path: string; name: string; value: Buffer };

// Each op reports its failure on stderr as "E <index> <message>" and the script carries on, so one
// run reports every failure.
const SCRIPT = `
i=0
while [ $# -gt 0 ]; do
  case "$1" in
    n)
      if [ "$3" = p ]; then out=$(mknod -m "$6" -- "$2" p 2>&1); else out=$(mknod -m "$6" -- "$2" "$3" "$4" "$5" 2>&1); fi \\
        || echo "E $i $out" >&2
      if [ -n "$7" ]; then out=$(chown -h -- "$7" "$2" 2>&1 && chmod -- "$6" "$2" 2>&1) || echo "E $i $out" >&2; fi
      shift 7 ;;
    x)
      out=$(setfattr -h -n "$3" -v "$4" -- "$2" 2>&1) || echo "E $i $out" >&2
      shift 4 ;;
    *) echo "E $i bad op $1" >&2; exit 2 ;;
  esac
  i=$((i+1))
done
`;

function argsOf(op: SpecialOp): string[] {
  if (op.op === 'mknod') {
    const owner = op.uid !== undefined && op.gid !== undefined ? `${op.uid}:${op.gid}` : '';
    return ['n', op.path, op.kind, String(op.major), String(op.minor), (op.mode & 0o7777).toString(8), owner];
  }
  return ['x', op.path, op.name, op.value.length ? `0s${op.value.toString('base64')}` : '""'];
}

export interface SpecialFailure {
  op: SpecialOp;
  message: string;
}

/** Runs a batch and returns the ops that failed (rejects only when the batch itself cannot run). */
export async function runSpecialOps(ops: readonly SpecialOp[]): Promise<SpecialFailure[]> {
  const nodes = ops.filter((o): o is Extract<SpecialOp, { op: 'mknod' }> => o.op === 'mknod');
  const xattrs = ops.filter((o): o is Extract<SpecialOp, { op: 'xattr' }> => o.op === 'xattr');
  const failures: SpecialFailure[] = [];
  // Nodes first: xattrs may be meant for them.
  if (nodes.length > 0) failures.push(...(await makeNodes(nodes)));
  if (xattrs.length > 0) failures.push(...(await setXattrs(xattrs)));
  return failures;
}

type NodeOp = Extract<SpecialOp, { op: 'mknod' }>;
type XattrOp = Extract<SpecialOp, { op: 'xattr' }>;

const EUID = typeof process.geteuid === 'function' ? process.geteuid() : 0;
const EGID = typeof process.getegid === 'function' ? process.getegid() : 0;

function runWithInput(cmd: string, args: string[], input: Buffer): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.stdin.on('error', () => undefined); // reported through the exit status
    child.on('error', (err) => reject(new BerthError('INTERNAL', `cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
    child.stdin.end(input);
  });
}

async function nodesTar(nodes: readonly NodeOp[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const n of nodes) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(
        {
          name: n.path,
          type: n.kind === 'p' ? 'fifo' : n.kind === 'b' ? 'block-device' : 'character-device',
          mode: n.mode & 0o7777,
          uid: n.uid ?? EUID,
          gid: n.gid ?? EGID,
          devmajor: n.major,
          devminor: n.minor,
          mtime: new Date(0),
        },
        (err?: Error | null) => (err ? reject(err) : resolve()),
      );
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function nodeOk(n: NodeOp): boolean {
  try {
    const st = lstatSync(n.path);
    if (n.kind === 'p') return st.isFIFO();
    if (!(n.kind === 'b' ? st.isBlockDevice() : st.isCharacterDevice())) return false;
    return st.rdev === ((n.major << 8) | (n.minor & 0xff) | ((n.minor & ~0xff) << 12));
  } catch {
    return false;
  }
}

async function makeNodes(nodes: readonly NodeOp[]): Promise<SpecialFailure[]> {
  const r = await runWithInput('tar', ['-x', '-P', '-p', '--numeric-owner', '-f', '-'], await nodesTar(nodes));
  if (r.code === 0) return [];
  const bad = nodes.filter((n) => !nodeOk(n));
  if (bad.length === 0) return [];
  return runScriptOps(bad);
}

/** getfattr's quoting: bytes outside printable ASCII, and the backslash, as \ooo. */
function quote(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b <= 0x20 || b >= 0x7f || b === 0x5c || b === 0x3d ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b);
  }
  return out;
}

async function setXattrs(ops: readonly XattrOp[]): Promise<SpecialFailure[]> {
  let dump = '';
  for (const o of ops) {
    dump += `# file: ${quote(o.path)}\n${quote(o.name)}=${o.value.length ? `0x${o.value.toString('hex')}` : '""'}\n\n`;
  }
  const r = await runWithInput('setfattr', ['-h', '--restore=-'], Buffer.from(dump, 'latin1'));
  if (r.code === 0) return [];
  // Name the failures: redo the ops of the paths setfattr complained about, one by one.
  const complained = new Set<string>();
  for (const line of r.stderr.split('\n')) {
    const m = /^setfattr: (.*): [^:]+$/.exec(line);
    if (m) complained.add(m[1]);
  }
  const redo = ops.filter((o) => complained.has(o.path));
  return runScriptOps(redo.length > 0 ? redo : ops);
}

/** The slow path: one mknod/setfattr process per op, each failure named. */
async function runScriptOps(ops: readonly SpecialOp[]): Promise<SpecialFailure[]> {
  const failures: SpecialFailure[] = [];
  // Keep each sh invocation well under ARG_MAX.
  let start = 0;
  while (start < ops.length) {
    let bytes = 0;
    let end = start;
    const args: string[] = [];
    while (end < ops.length && bytes < 512 * 1024) {
      const a = argsOf(ops[end]);
      for (const s of a) bytes += Buffer.byteLength(s) + 1 + 8;
      args.push(...a);
      end++;
    }
    failures.push(...(await runOne(args, ops.slice(start, end))));
    start = end;
  }
  return failures;
}

/** Describes failures for an error message. */
export function describeFailures(failures: readonly SpecialFailure[]): string {
  const parts = failures.slice(0, 5).map((f) => {
    const what = f.op.op === 'mknod' ? `mknod ${f.op.path}` : `setxattr ${f.op.name} on ${f.op.path}`;
    return `${what}: ${f.message}`;
  });
  return `${failures.length} special file operation(s) failed: ${parts.join('; ')}`;
}

function runOne(args: string[], ops: readonly SpecialOp[]): Promise<SpecialFailure[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', SCRIPT, 'berth-special', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.on('error', (err) => reject(new BerthError('INTERNAL', `cannot run /bin/sh for mknod/setfattr: ${err.message}`)));
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new BerthError('INTERNAL', `mknod/setfattr batch failed: exit status ${code}: ${stderr.trim()}`));
        return;
      }
      const failures: SpecialFailure[] = [];
      for (const line of stderr.split('\n')) {
        const m = /^E (\d+) ?(.*)$/.exec(line);
        const op = m ? ops[Number(m[1])] : undefined;
        if (m && op) failures.push({ op, message: m[2] || 'failed' });
      }
      resolve(failures);
    });
  });
}
