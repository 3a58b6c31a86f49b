/**
 * A small strict argument parser with runc's conventions: flags before or after positional arguments,
 * `--flag value` and `--flag=value`, Go-style single-dash long flags (`-bundle x`), short aliases
 * (`-d`), boolean flags (`--detach`, `--detach=false`), repeated list flags, and `--` ending flags.
 * Commands whose trailing arguments belong to another program (exec, ps) stop parsing flags after a
 * given number of positionals.
 */
import { BerthError } from '../../runtime/errors';

export type FlagType = 'bool' | 'string' | 'int' | 'list';

export interface FlagSpec {
  name: string;
  type: FlagType;
  short?: string;
  /** Shown in help as the value placeholder. */
  value?: string;
  help: string;
}

export type FlagValue = boolean | string | number | string[];

export interface ParsedArgs {
  flags: Map<string, FlagValue>;
  positionals: string[];
}

export interface ParseOptions {
  /** After this many positionals, every remaining argument is positional (exec: 1). */
  stopAfterPositionals?: number;
  /** The first positional and everything after it are left unparsed (global flags before a command). */
  stopAtFirstPositional?: boolean;
}

function usageError(message: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', message);
}

function parseBool(name: string, v: string): boolean {
  if (v === 'true' || v === '1' || v === 't' || v === 'T' || v === 'TRUE' || v === 'True') return true;
  if (v === 'false' || v === '0' || v === 'f' || v === 'F' || v === 'FALSE' || v === 'False') return false;
  throw usageError(`invalid boolean value ${JSON.stringify(v)} for flag --${name}`);
}

function parseInt10(name: string, v: string): number {
  if (!/^[+-]?\d+$/.test(v)) throw usageError(`invalid value ${JSON.stringify(v)} for flag --${name}: not an integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw usageError(`invalid value ${JSON.stringify(v)} for flag --${name}: out of range`);
  return n;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: ParseOptions = {}): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    if (s.short) byName.set(s.short, s);
  }
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];
  const stopAfter = opts.stopAfterPositionals ?? Infinity;
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    i++;
    if (positionals.length >= stopAfter) {
      // Trailing arguments belong to the program being run; a leading `--` is only a separator.
      positionals.push(...(arg === '--' ? [] : [arg]), ...argv.slice(i));
      break;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i));
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') {
      if (opts.stopAtFirstPositional) {
        positionals.push(arg, ...argv.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    const spec = byName.get(name);
    if (spec === undefined || name === '') throw usageError(`flag provided but not defined: ${arg.startsWith('--') ? '--' : '-'}${name}`);
    if (spec.type === 'bool') {
      flags.set(spec.name, inline === undefined ? true : parseBool(spec.name, inline));
      continue;
    }
    let value: string;
    if (inline !== undefined) {
      value = inline;
    } else {
      if (i >= argv.length) throw usageError(`flag needs an argument: --${spec.name}`);
      value = argv[i]!;
      i++;
    }
    switch (spec.type) {
      case 'string':
        flags.set(spec.name, value);
        break;
      case 'int':
        flags.set(spec.name, parseInt10(spec.name, value));
        break;
      case 'list': {
        const prev = flags.get(spec.name);
        flags.set(spec.name, [...(Array.isArray(prev) ? prev : []), value]);
        break;
      }
    }
  }
  return { flags, positionals };
}

/** Typed accessors over parsed flags. */
export class Flags {
  constructor(private readonly parsed: Map<string, FlagValue>) {}
  has(name: string): boolean {
    return this.parsed.has(name);
  }
  bool(name: string): boolean {
    return this.parsed.get(name) === true;
  }
  string(name: string): string | undefined {
    const v = this.parsed.get(name);
    return typeof v === 'string' ? v : undefined;
  }
  int(name: string): number | undefined {
    const v = this.parsed.get(name);
    return typeof v === 'number' ? v : undefined;
  }
  list(name: string): string[] {
    const v = this.parsed.get(name);
    return Array.isArray(v) ? v : [];
  }
}

/** Help text for a flag list, aligned. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const names = [`--${s.name}`, ...(s.short ? [`-${s.short}`] : [])].join(', ');
    const value = s.type === 'bool' ? '' : ` ${s.value ?? 'value'}`;
    return [`${names}${value}`, s.help + (s.type === 'list' ? ' (repeatable)' : '')] as const;
  });
  const width = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([a, b]) => `   ${a.padEnd(width)}   ${b}`).join('\n');
}
