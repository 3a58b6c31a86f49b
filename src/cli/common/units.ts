/**
 * Human sizes as docker prints them: decimal units (B, kB, MB, GB, TB, PB), three significant digits
 * for tables ("1.23MB", "12.3MB", "123MB", "4.1kB"), four for other places.
 */
const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** Like C's "%.<precision>g": significant digits, trailing zeros dropped, no exponent for our range. */
function significant(n: number, precision: number): string {
  if (n === 0) return '0';
  const s = n.toPrecision(precision);
  if (s.includes('e')) return String(Number(s));
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

export function humanSize(bytes: number, precision = 3): string {
  if (!Number.isFinite(bytes) || bytes < 0) return 'N/A';
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < DECIMAL_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  // 999.95kB rounds to "1e+03kB" with %.3g: carry into the next unit instead.
  let s = significant(v, precision);
  if (Number(s) >= 1000 && i < DECIMAL_UNITS.length - 1) {
    v /= 1000;
    i++;
    s = significant(v, precision);
  }
  return `${s}${DECIMAL_UNITS[i]}`;
}

/** Short hex of a digest ("sha256:abcd..." -> 12 characters), as docker shows IDs. */
export function shortId(digest: string, length = 12): string {
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, length);
}
