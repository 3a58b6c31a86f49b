/**
 * Aligned tables like docker's: no borders, each column padded to its widest cell plus three spaces,
 * the last column not padded, trailing spaces trimmed.
 */
export const COLUMN_GAP = 3;

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cols = Math.max(header.length, ...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let i = 0; i < cols; i++) {
    widths.push(Math.max((header[i] ?? '').length, ...rows.map((r) => (r[i] ?? '').length)));
  }
  const line = (cells: readonly string[]): string => {
    let s = '';
    for (let i = 0; i < cols; i++) {
      const c = cells[i] ?? '';
      s += i === cols - 1 ? c : c.padEnd(widths[i]! + COLUMN_GAP);
    }
    return s.trimEnd() + '\n';
  };
  const lines = header.length ? [line(header)] : [];
  for (const r of rows) lines.push(line(r));
  return lines.join('');
}
