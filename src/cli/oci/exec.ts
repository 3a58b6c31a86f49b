/**
 * berth-oci exec [options] <id> <command> [args...]: the process is the container's own process
 * modified by the flags (runc's rules), or exactly the --process document.
 */
import * as fs from 'node:fs';
import { containerProcess, execProcess } from '../../runtime/container/exec';
import { BerthError } from '../../runtime/errors';
import type { SpecProcess } from '../../runtime/spec/types';
import type { Flags } from './args';
import { containerIdArg, expectArgs, runtimeOptions, type CommandContext } from './context';
import { forwardSignals } from './signals';

function readProcessFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `--process: reading ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BerthError('INVALID_CONFIG', `process: invalid JSON in ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function parseId(what: string, s: string): number {
  if (!/^\d+$/.test(s)) throw new BerthError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(s)}: must be numeric`);
  return Number(s);
}

/** The exec'd process: `base` (the container's process) with the flags applied. */
export function processFromFlags(base: SpecProcess | undefined, args: string[], flags: Flags): SpecProcess {
  if (args.length === 0) throw new BerthError('INVALID_ARGUMENT', 'exec: a command to run is required');
  const p: SpecProcess = base
    ? (JSON.parse(JSON.stringify(base)) as SpecProcess)
    : { args: [], cwd: '/', user: { uid: 0, gid: 0 }, env: [] };
  p.args = args;
  delete p.commandLine;
  p.terminal = flags.bool('tty');
  if (!p.terminal) delete p.consoleSize;
  p.env = [...(p.env ?? []), ...flags.list('env')];
  const cwd = flags.string('cwd');
  if (cwd !== undefined) p.cwd = cwd;
  const user = flags.string('user');
  if (user !== undefined) {
    const [u, g] = user.split(':');
    p.user = { ...p.user, uid: parseId('user', u ?? ''), ...(g !== undefined ? { gid: parseId('group', g) } : {}) };
  }
  const gids = flags.list('additional-gids');
  if (gids.length > 0) p.user = { ...p.user, additionalGids: gids.map((g) => parseId('additional gid', g)) };
  if (flags.bool('no-new-privs')) p.noNewPrivileges = true;
  const apparmor = flags.string('apparmor');
  if (apparmor !== undefined) p.apparmorProfile = apparmor;
  const label = flags.string('process-label');
  if (label !== undefined) p.selinuxLabel = label;
  const caps = flags.list('cap');
  if (caps.length > 0) {
    const c = (p.capabilities ??= {});
    // Not inheritable (CVE-2022-29162) and so not ambient either.
    for (const set of ['bounding', 'effective', 'permitted'] as const) {
      c[set] = [...new Set([...(c[set] ?? []), ...caps])];
    }
  }
  return p;
}

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, Infinity);
  const id = containerIdArg(ctx);
  const opts = runtimeOptions(ctx);
  const file = ctx.flags.string('process');
  const proc = file !== undefined ? readProcessFile(file) : processFromFlags(await containerProcess(opts, id), ctx.args.slice(1), ctx.flags);
  const detach = ctx.flags.bool('detach');
  const signals = detach ? null : forwardSignals();
  try {
    const ex = await execProcess(opts, {
      id,
      process: proc,
      detach,
      consoleSocket: ctx.flags.string('console-socket'),
      pidFile: ctx.flags.string('pid-file'),
      preserveFds: ctx.flags.int('preserve-fds') ?? 0,
    });
    if (!signals) return 0;
    signals.target(ex.pid);
    return await ex.exited;
  } finally {
    signals?.stop();
  }
}
