/** berth-oci delete [--force] <id>... */
import { deleteContainer } from '../../runtime/container/delete';
import { expectArgs, runtimeOptions, type CommandContext } from './context';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, Infinity);
  const opts = runtimeOptions(ctx);
  let failed = 0;
  for (const id of ctx.args) {
    try {
      await deleteContainer(opts, id, ctx.flags.bool('force'));
    } catch (err) {
      if (ctx.args.length === 1) throw err;
      failed++;
      ctx.logger.error(`delete ${id}: ${(err as Error).message}`);
      process.stderr.write(`berth-oci: delete ${id}: ${(err as Error).message}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}
