/** berth-oci events [--interval 5s] [--stats] <id>: JSON lines of stats and oom events. */
import { statsEvent, watchEvents } from '../../runtime/container/events';
import { containerIdArg, expectArgs, runtimeOptions, writeOut, type CommandContext } from './context';
import { parseDuration } from './units';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, 1);
  const id = containerIdArg(ctx);
  const opts = runtimeOptions(ctx);
  if (ctx.flags.bool('stats')) {
    writeOut(`${JSON.stringify(await statsEvent(opts, id))}\n`);
    return 0;
  }
  const intervalMs = parseDuration('interval', ctx.flags.string('interval') ?? '5s');
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await watchEvents(opts, id, { intervalMs: Math.max(intervalMs, 1), signal: ac.signal }, (e) => writeOut(`${JSON.stringify(e)}\n`));
  return 0;
}
