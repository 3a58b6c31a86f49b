/**
 * The demo image's root filesystem, for scripts/demo.sh: the host's busybox-static with one link per
 * applet, /etc/passwd and /etc/group, and a web page in /www.
 *
 *   node dist/src/demo/demo-rootfs.js DIR 'PAGE TEXT'
 *
 * DIR must not exist yet (or be empty). The page is /www/index.html holding PAGE TEXT and a newline.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeBusyboxRootfs } from './busybox-rootfs';

export function makeDemoRootfs(dir: string, page: string): void {
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new Error(`${dir} is not empty`);
  makeBusyboxRootfs(dir);
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'index.html'), `${page}\n`);
}

function main(argv: string[]): number {
  if (argv.length !== 2 || argv[0] === '') {
    process.stderr.write('usage: demo-rootfs DIR PAGE-TEXT\n');
    return 2;
  }
  try {
    makeDemoRootfs(argv[0], argv[1]);
  } catch (err) {
    process.stderr.write(`demo-rootfs: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
