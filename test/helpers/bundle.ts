/**
 * Test fixture: an OCI bundle whose rootfs is Debian's busybox-static with its applets as symlinks.
 * Note busybox-static runs applets in-process (`sh -c ls` never execs /bin/ls).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

export const BUSYBOX = '/bin/busybox';

export interface Bundle {
  dir: string;
  rootfs: string;
  /** Write config.json (a whole object). */
  writeConfig(config: unknown): void;
  /** Remove the bundle directory. */
  remove(): void;
}

/** Make a fresh rootfs directory with busybox and applet links. */
export function makeBusyboxRootfs(rootfs: string): void {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var', 'run']) {
    fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  }
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'busybox') continue;
    const link = path.join(rootfs, 'bin', a);
    if (!fs.existsSync(link)) fs.symlinkSync('busybox', link);
  }
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** A temporary bundle under os.tmpdir() (or `parent`), with a busybox rootfs. */
export function makeBundle(prefix = 'berth-test-', parent = os.tmpdir()): Bundle {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  const rootfs = path.join(dir, 'rootfs');
  makeBusyboxRootfs(rootfs);
  return {
    dir,
    rootfs,
    writeConfig(config: unknown) {
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
