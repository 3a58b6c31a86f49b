/**
 * Generates src/runtime/seccomp/syscalls/{x86_64,x86,x32,aarch64}.ts: syscall name -> number tables
 * read from the kernel UAPI headers installed by Debian's linux-libc-dev:
 *
 *   x86_64   /usr/include/x86_64-linux-gnu/asm/unistd_64.h
 *   x86      /usr/include/x86_64-linux-gnu/asm/unistd_32.h
 *   x32      /usr/include/x86_64-linux-gnu/asm/unistd_x32.h   (numbers stored WITHOUT __X32_SYSCALL_BIT)
 *   aarch64  /usr/include/asm-generic/unistd.h, run through the C preprocessor (gcc -E -dM) with the
 *            __ARCH_WANT_* switches arm64's asm/unistd.h defines, so the 32/64-bit aliases resolve.
 *
 * The headers on this machine may be older than the running kernel; syscalls added to the kernel after
 * the header version are listed in LATER_SYSCALLS below (same number on every architecture handled
 * here, as the kernel has numbered all new syscalls uniformly since 5.1), and added when missing.
 *
 * Run: bash scripts/gen-syscalls.sh   (compiles this file with tsc into a temp dir and runs it)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OUT_DIR = join(__dirname, '..', '..', 'src', 'runtime', 'seccomp', 'syscalls');
const OUT_DIR_ARG = process.argv[2];

/** Syscalls newer than Debian bookworm's linux-libc-dev (6.1): number, name, and where they exist. */
const LATER_SYSCALLS: Array<[number, string, Array<'x86_64' | 'x86' | 'x32' | 'aarch64'>]> = [
  [451, 'cachestat', ['x86_64', 'x86', 'x32', 'aarch64']],
  [452, 'fchmodat2', ['x86_64', 'x86', 'x32', 'aarch64']],
  [453, 'map_shadow_stack', ['x86_64', 'x86', 'aarch64']],
  [454, 'futex_wake', ['x86_64', 'x86', 'x32', 'aarch64']],
  [455, 'futex_wait', ['x86_64', 'x86', 'x32', 'aarch64']],
  [456, 'futex_requeue', ['x86_64', 'x86', 'x32', 'aarch64']],
  [457, 'statmount', ['x86_64', 'x86', 'x32', 'aarch64']],
  [458, 'listmount', ['x86_64', 'x86', 'x32', 'aarch64']],
  [459, 'lsm_get_self_attr', ['x86_64', 'x86', 'x32', 'aarch64']],
  [460, 'lsm_set_self_attr', ['x86_64', 'x86', 'x32', 'aarch64']],
  [461, 'lsm_list_modules', ['x86_64', 'x86', 'x32', 'aarch64']],
  [462, 'mseal', ['x86_64', 'x86', 'x32', 'aarch64']],
  [463, 'setxattrat', ['x86_64', 'x86', 'x32', 'aarch64']],
  [464, 'getxattrat', ['x86_64', 'x86', 'x32', 'aarch64']],
  [465, 'listxattrat', ['x86_64', 'x86', 'x32', 'aarch64']],
  [466, 'removexattrat', ['x86_64', 'x86', 'x32', 'aarch64']],
  [467, 'open_tree_attr', ['x86_64', 'x86', 'x32', 'aarch64']],
  [468, 'file_getattr', ['x86_64', 'x86', 'x32', 'aarch64']],
  [469, 'file_setattr', ['x86_64', 'x86', 'x32', 'aarch64']],
  [470, 'listns', ['x86_64', 'x86', 'x32', 'aarch64']],
];

/** Parses `#define __NR_name <number>` and `#define __NR_name (__X32_SYSCALL_BIT + <number>)` lines. */
function parseUnistd(path: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = /^#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ (\d+)\)|(\d+))\s*$/;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = re.exec(line);
    if (m === null) continue;
    out.set(m[1], Number(m[2] ?? m[3]));
  }
  return out;
}

/** asm-generic/unistd.h as arm64 sees it: preprocess, then resolve macro aliases (__NR_fcntl -> __NR3264_fcntl). */
function parseGeneric(): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'gen-syscalls-'));
  try {
    const src = join(dir, 'arm64.c');
    writeFileSync(
      src,
      [
        '#define __ARCH_WANT_RENAMEAT',
        '#define __ARCH_WANT_NEW_STAT',
        '#define __ARCH_WANT_SET_GET_RLIMIT',
        '#define __ARCH_WANT_TIME32_SYSCALLS',
        '#define __ARCH_WANT_SYS_CLONE3',
        '#define __ARCH_WANT_MEMFD_SECRET',
        '#define __BITS_PER_LONG 64',
        '#include <asm-generic/unistd.h>',
        '',
      ].join('\n'),
    );
    const text = execFileSync('gcc', ['-E', '-dM', src], { encoding: 'utf8' });
    const macros = new Map<string, string>();
    for (const line of text.split('\n')) {
      const m = /^#define (__NR\w+) (.+)$/.exec(line);
      if (m !== null) macros.set(m[1], m[2].trim());
    }
    const resolve = (v: string, depth: number): number | undefined => {
      if (/^\d+$/.test(v)) return Number(v);
      const next = macros.get(v);
      if (next === undefined || depth > 8) return undefined;
      return resolve(next, depth + 1);
    };
    const out = new Map<string, number>();
    for (const [k, v] of macros) {
      if (!k.startsWith('__NR_')) continue;
      const name = k.slice('__NR_'.length);
      if (name === 'syscalls' || name === 'arch_specific_syscall') continue;
      const n = resolve(v, 0);
      if (n !== undefined) out.set(name, n);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function write(arch: 'x86_64' | 'x86' | 'x32' | 'aarch64', constName: string, table: Map<string, number>, note: string): void {
  for (const [nr, name, arches] of LATER_SYSCALLS) {
    if (arches.includes(arch) && !table.has(name)) table.set(name, nr);
  }
  const entries = [...table].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  const lines = [
    '// Generated by scripts/gen-syscalls.ts from the kernel UAPI headers. Do not edit by hand.',
    `// ${note}`,
    `export const ${constName}: ReadonlyArray<readonly [string, number]> = [`,
    ...entries.map(([n, v]) => `  ['${n}', ${v}],`),
    '];',
    '',
  ];
  writeFileSync(join(OUT_DIR_ARG ?? OUT_DIR, `${arch}.ts`), lines.join('\n'));
  process.stdout.write(`${arch}: ${entries.length} syscalls\n`);
}

const inc = '/usr/include/x86_64-linux-gnu/asm';
write('x86_64', 'X86_64_SYSCALLS', parseUnistd(`${inc}/unistd_64.h`), 'x86_64 (AUDIT_ARCH_X86_64), from asm/unistd_64.h.');
write('x86', 'X86_SYSCALLS', parseUnistd(`${inc}/unistd_32.h`), 'i386 (AUDIT_ARCH_I386), from asm/unistd_32.h.');
write(
  'x32',
  'X32_SYSCALLS',
  parseUnistd(`${inc}/unistd_x32.h`),
  'x32 (AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT), from asm/unistd_x32.h; numbers exclude the 0x40000000 bit.',
);
write('aarch64', 'AARCH64_SYSCALLS', parseGeneric(), 'aarch64 (AUDIT_ARCH_AARCH64), from asm-generic/unistd.h with arm64 switches.');
