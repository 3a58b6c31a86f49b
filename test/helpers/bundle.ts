/**
 * Test fixture: an OCI bundle whose rootfs is Debian's busybox-static with its applets as symlinks.
 * Note busybox-static runs applets in-process (`sh -c ls` never execs /bin/ls).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUSYBOX, makeBusyboxRootfs } from '../../src/demo/busybox-rootfs';

export { BUSYBOX, makeBusyboxRootfs };

export interface Bundle {
  dir: string;
  rootfs: string;
  /** Write config.json (a whole object). */
  writeConfig(config: unknown): void;
  /** Remove the bundle directory. */
  remove(): void;
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
