/** berth-oci list [--format table|json] [-q] */
import { listContainers } from '../../runtime/container/list';
import { BerthError } from '../../runtime/errors';
import { expectArgs, runtimeOptions, writeOut, type CommandContext } from './context';
import { formatTable } from './table';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 0, 0);
  const format = ctx.flags.string('format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw new BerthError('INVALID_ARGUMENT', `invalid --format ${JSON.stringify(format)}: want table or json`);
  const all = await listContainers(runtimeOptions(ctx));
  if (ctx.flags.bool('quiet')) {
    writeOut(all.map((c) => `${c.id}\n`).join(''));
  } else if (format === 'json') {
    writeOut(`${JSON.stringify(all)}\n`);
  } else {
    const rows = all.map((c) => [c.id, String(c.pid ?? 0), c.status, c.bundle, c.created, c.owner]);
    writeOut(formatTable(['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], rows));
  }
  return 0;
}
