/** berth-oci state <id>: the state document as indented JSON. */
import { containerState } from '../../runtime/container/inspect';
import { containerIdArg, expectArgs, runtimeOptions, writeOut, type CommandContext } from './context';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, 1);
  const st = await containerState(runtimeOptions(ctx), containerIdArg(ctx));
  writeOut(`${JSON.stringify(st, null, 2)}\n`);
  return 0;
}
