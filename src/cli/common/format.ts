/**
 * `--format` for listing commands, docker-style:
 *   (none) or "table"          the command's default table
 *   "json"                     one JSON array of the rows
 *   "table <template>"         a table whose columns are the template's fields
 *   "<template>"               one line per row: "{{.Field}}", "{{json .}}", "{{json .Field}}",
 *                              "\t" and "\n" escapes; any other text is copied
 * Only this subset of Go templates is supported; anything else is an INVALID_ARGUMENT error.
 */
import { BerthError } from '../../runtime/errors';

export type Row = Record<string, unknown>;

export interface Column {
  /** Field name in the row (what templates use: {{.Repository}}). */
  field: string;
  /** Header in tables. */
  header: string;
}

type Part = { kind: 'text'; text: string } | { kind: 'field'; field: string | null; json: boolean };

const ACTION = /\{\{\s*(.*?)\s*\}\}/g;

export function parseTemplate(tpl: string): Part[] {
  const parts: Part[] = [];
  const text = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  let last = 0;
  for (const m of text.matchAll(ACTION)) {
    if (m.index! > last) parts.push({ kind: 'text', text: text.slice(last, m.index) });
    last = m.index! + m[0].length;
    const body = m[1]!;
    const jm = /^json\s+(.+)$/.exec(body);
    const target = jm ? jm[1]!.trim() : body;
    let field: string | null;
    if (target === '.') field = null;
    else if (/^\.[A-Za-z_][A-Za-z0-9_]*$/.test(target)) field = target.slice(1);
    else throw new BerthError('INVALID_ARGUMENT', `unsupported template action {{${body}}}: berth supports {{.Field}}, {{json .}} and {{json .Field}}`);
    parts.push({ kind: 'field', field, json: jm !== null });
  }
  if (last < text.length) parts.push({ kind: 'text', text: text.slice(last) });
  if (text.replace(ACTION, '').includes('{{')) throw new BerthError('INVALID_ARGUMENT', `malformed template ${JSON.stringify(tpl)}`);
  return parts;
}

function fieldValue(row: Row, field: string, known: ReadonlySet<string>): unknown {
  if (!(field in row) && !known.has(field)) {
    throw new BerthError('INVALID_ARGUMENT', `template: no field "${field}" (fields: ${[...known].join(', ')})`);
  }
  return row[field];
}

function plain(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function renderTemplate(parts: readonly Part[], row: Row, known: ReadonlySet<string>): string {
  let s = '';
  for (const p of parts) {
    if (p.kind === 'text') s += p.text;
    else {
      const v = p.field === null ? row : fieldValue(row, p.field, known);
      s += p.json ? JSON.stringify(v ?? null) : plain(v);
    }
  }
  return s;
}

/** Header for a field not in the column list: "CreatedSince" -> "CREATED SINCE". */
function headerFor(field: string, columns: readonly Column[]): string {
  const c = columns.find((x) => x.field === field);
  if (c) return c.header;
  return field.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
}

export interface FormatSpec {
  format?: string;
  columns: readonly Column[];
  /** Every field a template may name (defaults to the row keys plus the columns). */
  fields?: readonly string[];
}

/** Format rows for output; returns the text to print (ends with a newline unless empty). */
export function formatRows(rows: readonly Row[], spec: FormatSpec, renderTableFn: (h: string[], r: string[][]) => string): string {
  const f = spec.format?.trim();
  const known = new Set<string>([...(spec.fields ?? []), ...spec.columns.map((c) => c.field), ...rows.flatMap((r) => Object.keys(r))]);
  if (f === undefined || f === '' || f === 'table') {
    return renderTableFn(spec.columns.map((c) => c.header), rows.map((r) => spec.columns.map((c) => plain(r[c.field]))));
  }
  if (f === 'json') return JSON.stringify(rows, null, 2) + '\n';
  if (f.startsWith('table ') || f.startsWith('table\t')) {
    const parts = parseTemplate(f.slice(6).trim());
    // Columns come from tab-separated template cells.
    const cells = f.slice(6).trim().split(/\\t|\t/).map((c) => parseTemplate(c));
    if (parts.length === 0) throw new BerthError('INVALID_ARGUMENT', 'empty table template');
    const header = cells.map((cp) =>
      cp.map((p) => (p.kind === 'text' ? p.text.trim() : p.field === null ? '' : headerFor(p.field, spec.columns))).join(' ').trim(),
    );
    return renderTableFn(header, rows.map((r) => cells.map((cp) => renderTemplate(cp, r, known))));
  }
  const parts = parseTemplate(f);
  return rows.map((r) => renderTemplate(parts, r, known) + '\n').join('');
}
