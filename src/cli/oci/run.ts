/** berth-oci run [--detach] [--keep] [--bundle DIR] ... <id>: create + start, then wait (foreground). */
import { runContainer } from '../../runtime/container/run';
import { containerIdArg, expectArgs, runtimeOptions, type CommandContext } from './context';
import { forwardSignals } from './signals';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, 1);
  const detach = ctx.flags.bool('detach');
  // installed before the container exists: a signal during create/start is held, then delivered
  const signals = detach ? null : forwardSignals();
  try {
    const running = await runContainer(runtimeOptions(ctx), {
      id: containerIdArg(ctx),
      bundle: ctx.flags.string('bundle') ?? '.',
      config: ctx.flags.string('config'),
      consoleSocket: ctx.flags.string('console-socket'),
      pidFile: ctx.flags.string('pid-file'),
      preserveFds: ctx.flags.int('preserve-fds') ?? 0,
      noPivot: ctx.flags.bool('no-pivot'),
      noNewKeyring: ctx.flags.bool('no-new-keyring'),
      detach,
      keep: ctx.flags.bool('keep'),
    });
    if (!signals) return 0;
    signals.target(running.created.record.pid);
    return await running.wait();
  } finally {
    signals?.stop();
  }
}
