/**
 * A minimal root filesystem made from the host's busybox-static: the binary, one symlink per applet,
 * and passwd/group files. Used by the demo, the benchmarks and the tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BerthError } from '../runtime/errors';

export const BUSYBOX = '/bin/busybox';

function assertStaticBusybox(binary: string): void {
  let head: Buffer;
  try {
    head = fs.readFileSync(binary).subarray(0, 4096);
  } catch {
    throw new BerthError('NOT_FOUND', `${binary} not found: install Debian's busybox-static`);
  }
  // A static ELF has no PT_INTERP program header; cheap check: the interpreter path string is absent.
  if (head.includes('/lib64/ld-linux') || head.includes('/lib/ld-')) {
    throw new BerthError('UNSUPPORTED', `${binary} is dynamically linked: install Debian's busybox-static`);
  }
}

export function makeBusyboxRootfs(rootfs: string, binary = BUSYBOX): void {
  assertStaticBusybox(binary);
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var', 'run']) {
    fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  }
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  fs.copyFileSync(binary, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  const applets = execFileSync(binary, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'busybox') continue;
    const link = path.join(rootfs, 'bin', a);
    if (!fs.existsSync(link)) fs.symlinkSync('busybox', link);
  }
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(rootfs, 'etc/hosts'), '127.0.0.1\tlocalhost\n');
}
