/** Seccomp: OCI `linux.seccomp` -> classic BPF filter for the plan (see compile.ts). */
export { compileSeccomp, compileSeccompDetailed, BAD_ARCH_ACTION } from './compile';
export type { CompiledSeccomp, CompileSeccompOptions } from './compile';
export { defaultSeccompProfile } from './default-profile';
export type * from './spec';
export { nativeArch, resolveSyscall } from './syscalls';
