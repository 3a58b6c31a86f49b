/** Help texts, all generated from the command table. */
import { formatFlags } from './args';
import { COMMANDS, GROUPS, groupCommands, namesOf } from './commands';
import { GLOBAL_FLAGS, HELP_FLAG, type CommandSpec, type GroupSpec } from './spec';

function list(rows: Array<[string, string]>): string[] {
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([n, s]) => `  ${n.padEnd(w)}   ${s}`);
}

/** Top-level commands shown in `berth --help`: docker's shortcuts, then groups. */
export function mainHelp(): string {
  const shortcuts: Array<[string, string]> = [];
  for (const c of COMMANDS) {
    const top = namesOf(c).find((n) => !n.includes(' '));
    if (top) shortcuts.push([top, c.summary]);
  }
  shortcuts.sort((a, b) => a[0].localeCompare(b[0]));
  return [
    'Usage:  berth [OPTIONS] COMMAND',
    '',
    'A docker-like, daemonless container tool',
    '',
    'Commands:',
    ...list(shortcuts),
    '',
    'Management Commands:',
    ...list(GROUPS.map((g) => [g.name, g.summary])),
    '',
    'Global Options:',
    formatFlags(GLOBAL_FLAGS),
    '',
    "Run 'berth COMMAND --help' for more information on a command.",
    '',
  ].join('\n');
}

export function groupHelp(g: GroupSpec): string {
  const subs = groupCommands(g.name).map((c): [string, string] => [c.name.slice(g.name.length + 1), c.summary]);
  return [
    `Usage:  berth ${g.name} COMMAND`,
    '',
    g.summary,
    '',
    'Commands:',
    ...list(subs),
    '',
    `Run 'berth ${g.name} COMMAND --help' for more information on a command.`,
    '',
  ].join('\n');
}

export function commandHelp(c: CommandSpec): string {
  const aliases = namesOf(c).filter((n) => n !== c.name);
  const lines = [`Usage:  berth ${c.usage}`, '', c.summary, ''];
  if (aliases.length) lines.push('Aliases:', `  berth ${c.name}, ${aliases.map((a) => `berth ${a}`).join(', ')}`, '');
  lines.push('Options:', formatFlags([...c.flags, HELP_FLAG]), '');
  if (c.notes) lines.push(c.notes, '');
  return lines.join('\n');
}
