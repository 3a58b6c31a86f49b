/** berth-oci features: the runtime-spec features document as indented JSON. */
import { featuresDocument } from '../../runtime/container/features';
import { expectArgs, writeOut, type CommandContext } from './context';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 0, 0);
  writeOut(`${JSON.stringify(featuresDocument(), null, '    ')}\n`);
  return 0;
}
