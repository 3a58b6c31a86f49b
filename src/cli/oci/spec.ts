/** berth-oci spec [--bundle DIR] [--rootless]: write a default config.json (never over an existing one). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../../runtime/errors';
import { defaultSpec } from '../../runtime/spec/default';
import { expectArgs, type CommandContext } from './context';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 0, 0);
  const dir = ctx.flags.string('bundle') ?? '.';
  const file = path.join(dir, 'config.json');
  const spec = defaultSpec({ rootless: ctx.flags.bool('rootless') });
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o666);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) throw new BerthError('ALREADY_EXISTS', `File ${file} exists. Remove it first`);
    if (isErrno(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `bundle directory ${dir} does not exist`);
    throw new BerthError('INTERNAL', `writing ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    fs.writeSync(fd, `${JSON.stringify(spec, null, '\t')}\n`);
  } finally {
    fs.closeSync(fd);
  }
  return 0;
}
