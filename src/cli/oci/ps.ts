/** berth-oci ps [--format table|json] <id> [ps options]: `ps` output (default -ef) filtered to the container's pids. */
import { execFile } from 'node:child_process';
import { containerPids } from '../../runtime/container/ps';
import { BerthError } from '../../runtime/errors';
import { containerIdArg, expectArgs, runtimeOptions, writeOut, type CommandContext } from './context';

function runPs(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ps', args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new BerthError('INTERNAL', `ps ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** Keep the header and the lines whose PID column is one of `pids`. */
export function filterPsOutput(output: string, pids: ReadonlySet<number>): string {
  const lines = output.split('\n');
  const header = lines[0] ?? '';
  const col = header.trim().split(/\s+/).indexOf('PID');
  if (col < 0) throw new BerthError('INVALID_ARGUMENT', 'ps output has no PID column (pass options that print it)');
  const kept = [header];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const pid = Number(line.trim().split(/\s+/)[col]);
    if (pids.has(pid)) kept.push(line);
  }
  return `${kept.join('\n')}\n`;
}

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, Infinity);
  const format = ctx.flags.string('format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw new BerthError('INVALID_ARGUMENT', `invalid --format ${JSON.stringify(format)}: want table or json`);
  const pids = await containerPids(runtimeOptions(ctx), containerIdArg(ctx));
  if (format === 'json') {
    if (ctx.args.length > 1) throw new BerthError('INVALID_ARGUMENT', 'ps options cannot be combined with --format json');
    writeOut(`${JSON.stringify(pids)}\n`);
    return 0;
  }
  const psArgs = ctx.args.length > 1 ? ctx.args.slice(1) : ['-ef'];
  writeOut(filterPsOutput(await runPs(psArgs), new Set(pids)));
  return 0;
}
