/** The shape of berth's command table (commands.ts) and the global flags. */
import type { Flags, FlagSpec } from './args';
import type { Context } from './context';

/** What a positional argument is, for shell completion. */
export type ArgKind = 'image' | 'file' | 'none' | 'any';

export interface CommandSpec {
  /** "pull", or "image ls" for a subcommand of a group. */
  name: string;
  /** Other names: "images", "image list". */
  aliases?: string[];
  summary: string;
  /** After "berth ": "pull [OPTIONS] NAME[:TAG|@DIGEST]". */
  usage: string;
  flags: FlagSpec[];
  args: { min: number; max?: number; kind: ArgKind };
  /** Extra help text printed after the flags. */
  notes?: string;
  /** Flags stop at the first argument (run IMAGE COMMAND...). */
  stopAtFirstPositional?: boolean;
  run: (ctx: Context, flags: Flags, args: string[]) => Promise<number>;
}

/** A command group ("image"): its subcommands are the CommandSpecs named "<group> <sub>". */
export interface GroupSpec {
  name: string;
  summary: string;
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string', metavar: 'DIR', help: 'Store root: images, content, snapshots', default: '/var/lib/berth' },
  { name: 'run-root', type: 'string', metavar: 'DIR', help: 'Runtime state directory', default: '/run/berth' },
  { name: 'config', type: 'string', metavar: 'FILE', help: 'TOML config file (optional when it does not exist)', default: '/etc/berth/berth.toml' },
  { name: 'hosts-dir', type: 'string', metavar: 'DIR', help: 'Registry hosts configuration (hosts.toml per registry, see docs/registry-hosts.md)', default: '/etc/berth/certs.d' },
  { name: 'debug', short: 'D', type: 'bool', help: 'Debug output (stack traces on errors)' },
  { name: 'help', short: 'h', type: 'bool', help: 'Print usage' },
  { name: 'version', short: 'v', type: 'bool', help: 'Print version information and quit' },
];

export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', type: 'bool', help: 'Print usage' };
