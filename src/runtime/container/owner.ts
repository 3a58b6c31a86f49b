/** A uid as a user name from /etc/passwd (runc's OWNER column), the number when unknown. */
import * as fs from 'node:fs';

export function userName(uid: number): string {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && Number(f[2]) === uid && f[0]) return f[0];
    }
  } catch {
    // No passwd file: the number it is.
  }
  return `#${uid}`;
}
