/**
 * Classic BPF as used by seccomp: instruction encoding, the constants the compiler emits, a validator
 * with the kernel's seccomp rules (seccomp_check_filter) and an interpreter over struct seccomp_data,
 * used by tests to run compiled programs without loading them.
 */

export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// Instruction classes.
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
// Sizes and modes.
export const BPF_W = 0x00;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
// ALU ops.
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
// Jumps.
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
// Operand source.
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
// MISC.
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

export const BPF_MAXINSNS = 4096;
export const BPF_MEMWORDS = 16;

// seccomp return values (linux/seccomp.h).
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** struct seccomp_data: 64 bytes. */
export const SECCOMP_DATA_SIZE = 64;
export const OFF_NR = 0;
export const OFF_ARCH = 4;
export const OFF_IP = 8;
export const OFF_ARGS = 16;

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  /** Up to six arguments, as unsigned 64-bit values (missing ones are 0). */
  args?: ReadonlyArray<bigint | number>;
}

export function stmt(code: number, k: number): BpfInsn {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}

export function jump(code: number, k: number, jt: number, jf: number): BpfInsn {
  return { code, jt, jf, k: k >>> 0 };
}

/** 8 bytes per instruction: u16 code, u8 jt, u8 jf, u32 k, little-endian (the byte order of x86_64 and aarch64). */
export function encodeProgram(insns: readonly BpfInsn[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    const o = i * 8;
    dv.setUint16(o, ins.code, true);
    out[o + 2] = ins.jt;
    out[o + 3] = ins.jf;
    dv.setUint32(o + 4, ins.k >>> 0, true);
  }
  return out;
}

export function decodeProgram(bytes: Uint8Array): BpfInsn[] {
  if (bytes.length % 8 !== 0) throw new Error(`BPF program length ${bytes.length} is not a multiple of 8`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: BpfInsn[] = [];
  for (let o = 0; o < bytes.length; o += 8) {
    out.push({ code: dv.getUint16(o, true), jt: bytes[o + 2], jf: bytes[o + 3], k: dv.getUint32(o + 4, true) });
  }
  return out;
}

/** Builds the 64-byte seccomp_data image (little-endian). */
export function seccompDataBytes(d: SeccompData): Uint8Array {
  const buf = new Uint8Array(SECCOMP_DATA_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setInt32(OFF_NR, d.nr | 0, true);
  dv.setUint32(OFF_ARCH, d.arch >>> 0, true);
  dv.setBigUint64(OFF_IP, BigInt.asUintN(64, d.instructionPointer ?? 0n), true);
  const args = d.args ?? [];
  for (let i = 0; i < 6; i++) {
    const a = args[i] ?? 0n;
    dv.setBigUint64(OFF_ARGS + 8 * i, BigInt.asUintN(64, BigInt(a)), true);
  }
  return buf;
}

/**
 * Checks a program the way the kernel does before accepting it as a seccomp filter (bpf_check_classic +
 * seccomp_check_filter): length, known opcodes, loads only aligned 32-bit words inside seccomp_data,
 * scratch memory indices, jumps in range, last instruction a return. Returns an error message or null.
 */
export function validateSeccompProgram(insns: readonly BpfInsn[]): string | null {
  const n = insns.length;
  if (n === 0 || n > BPF_MAXINSNS) return `program length ${n} out of range 1..${BPF_MAXINSNS}`;
  for (let pc = 0; pc < n; pc++) {
    const { code, jt, jf, k } = insns[pc];
    const cls = code & 0x07;
    switch (code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (k >= SECCOMP_DATA_SIZE || (k & 3) !== 0) return `pc ${pc}: load offset ${k} outside seccomp_data`;
        break;
      case BPF_LD | BPF_W | BPF_LEN:
      case BPF_LDX | BPF_W | BPF_LEN:
      case BPF_LD | BPF_IMM:
      case BPF_LDX | BPF_IMM:
      case BPF_MISC | BPF_TAX:
      case BPF_MISC | BPF_TXA:
      case BPF_RET | BPF_K:
      case BPF_RET | BPF_A:
      case BPF_ALU | BPF_NEG:
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (k >= BPF_MEMWORDS) return `pc ${pc}: scratch memory index ${k} out of range`;
        break;
      case BPF_JMP | BPF_JA:
        if (pc + 1 + k >= n) return `pc ${pc}: ja target out of range`;
        break;
      default:
        if (cls === BPF_ALU) {
          const op = code & 0xf0;
          const ops = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_MOD, BPF_XOR];
          if (!ops.includes(op) || (code & ~0xf8) !== BPF_ALU) return `pc ${pc}: bad ALU opcode 0x${code.toString(16)}`;
          if ((code & BPF_X) === 0 && (op === BPF_DIV || op === BPF_MOD) && k === 0) return `pc ${pc}: division by zero`;
          if ((code & BPF_X) === 0 && (op === BPF_LSH || op === BPF_RSH) && k >= 32) return `pc ${pc}: shift too large`;
          break;
        }
        if (cls === BPF_JMP) {
          const op = code & 0xf0;
          if (![BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].includes(op) || (code & ~0xf8) !== BPF_JMP) {
            return `pc ${pc}: bad jump opcode 0x${code.toString(16)}`;
          }
          if (pc + 1 + jt >= n || pc + 1 + jf >= n) return `pc ${pc}: conditional jump target out of range`;
          break;
        }
        return `pc ${pc}: opcode 0x${code.toString(16)} not allowed in seccomp filters`;
    }
  }
  const last = insns[n - 1].code;
  if (last !== (BPF_RET | BPF_K) && last !== (BPF_RET | BPF_A)) return 'last instruction is not a return';
  return null;
}

/**
 * Runs a (validated) seccomp program over `data` and returns the 32-bit filter result.
 * Throws on an invalid program; counts executed instructions in `stats.steps` when given.
 */
export function runSeccomp(insns: readonly BpfInsn[], data: SeccompData, stats?: { steps: number }): number {
  return seccompRunner(insns)(data, stats);
}

/** Validates `insns` once and returns a function that runs them (faster for many inputs). */
export function seccompRunner(insns: readonly BpfInsn[]): (data: SeccompData, stats?: { steps: number }) => number {
  const err = validateSeccompProgram(insns);
  if (err !== null) throw new Error(`invalid seccomp program: ${err}`);
  return (data, stats) => execute(insns, data, stats);
}

function execute(insns: readonly BpfInsn[], data: SeccompData, stats?: { steps: number }): number {
  const mem = new Uint32Array(BPF_MEMWORDS);
  const bytes = seccompDataBytes(data);
  const dv = new DataView(bytes.buffer);
  let a = 0;
  let x = 0;
  let pc = 0;
  let steps = 0;
  for (;;) {
    if (pc >= insns.length) throw new Error('fell off the end of the program');
    const { code, jt, jf, k } = insns[pc++];
    steps++;
    switch (code) {
      case BPF_LD | BPF_W | BPF_ABS:
        a = dv.getUint32(k, true);
        continue;
      case BPF_LD | BPF_W | BPF_LEN:
        a = SECCOMP_DATA_SIZE;
        continue;
      case BPF_LDX | BPF_W | BPF_LEN:
        x = SECCOMP_DATA_SIZE;
        continue;
      case BPF_LD | BPF_IMM:
        a = k >>> 0;
        continue;
      case BPF_LDX | BPF_IMM:
        x = k >>> 0;
        continue;
      case BPF_LD | BPF_MEM:
        a = mem[k];
        continue;
      case BPF_LDX | BPF_MEM:
        x = mem[k];
        continue;
      case BPF_ST:
        mem[k] = a;
        continue;
      case BPF_STX:
        mem[k] = x;
        continue;
      case BPF_MISC | BPF_TAX:
        x = a;
        continue;
      case BPF_MISC | BPF_TXA:
        a = x;
        continue;
      case BPF_RET | BPF_K:
        if (stats) stats.steps = steps;
        return k >>> 0;
      case BPF_RET | BPF_A:
        if (stats) stats.steps = steps;
        return a >>> 0;
      case BPF_JMP | BPF_JA:
        pc += k;
        continue;
      case BPF_ALU | BPF_NEG:
        a = -a >>> 0;
        continue;
      default:
        break;
    }
    const cls = code & 0x07;
    const src = (code & BPF_X) !== 0 ? x : k >>> 0;
    const op = code & 0xf0;
    if (cls === BPF_JMP) {
      let cond: boolean;
      switch (op) {
        case BPF_JEQ:
          cond = a === src;
          break;
        case BPF_JGT:
          cond = a > src;
          break;
        case BPF_JGE:
          cond = a >= src;
          break;
        default:
          cond = ((a & src) >>> 0) !== 0;
          break;
      }
      pc += cond ? jt : jf;
      continue;
    }
    // BPF_ALU
    switch (op) {
      case BPF_ADD:
        a = (a + src) >>> 0;
        break;
      case BPF_SUB:
        a = (a - src) >>> 0;
        break;
      case BPF_MUL:
        a = Math.imul(a, src) >>> 0;
        break;
      case BPF_DIV:
        if (src === 0) return 0; // kernel: division by zero in X terminates with 0
        a = Math.floor(a / src) >>> 0;
        break;
      case BPF_MOD:
        if (src === 0) return 0;
        a = a % src >>> 0;
        break;
      case BPF_OR:
        a = (a | src) >>> 0;
        break;
      case BPF_AND:
        a = (a & src) >>> 0;
        break;
      case BPF_XOR:
        a = (a ^ src) >>> 0;
        break;
      case BPF_LSH:
        a = src >= 32 ? 0 : (a << src) >>> 0;
        break;
      default:
        a = src >= 32 ? 0 : a >>> src;
        break;
    }
  }
}

/** Splits a filter result into action (SECCOMP_RET_ACTION_FULL bits) and data. */
export function splitResult(ret: number): { action: number; data: number } {
  return { action: (ret & SECCOMP_RET_ACTION_FULL) >>> 0, data: ret & SECCOMP_RET_DATA };
}

/** Disassembles a program, one instruction per line (for debugging and test failure messages). */
export function disassemble(insns: readonly BpfInsn[]): string {
  const names: Record<number, string> = {
    [BPF_JEQ]: 'jeq',
    [BPF_JGT]: 'jgt',
    [BPF_JGE]: 'jge',
    [BPF_JSET]: 'jset',
  };
  return insns
    .map((ins, pc) => {
      const { code, jt, jf, k } = ins;
      let s: string;
      if (code === (BPF_LD | BPF_W | BPF_ABS)) s = `ld [${k}]`;
      else if (code === (BPF_RET | BPF_K)) s = `ret 0x${k.toString(16)}`;
      else if (code === (BPF_JMP | BPF_JA)) s = `ja ${pc + 1 + k}`;
      else if ((code & 0x07) === BPF_JMP) s = `${names[code & 0xf0] ?? '?'} 0x${k.toString(16)} ? ${pc + 1 + jt} : ${pc + 1 + jf}`;
      else if (code === (BPF_ALU | BPF_AND | BPF_K)) s = `and 0x${k.toString(16)}`;
      else s = `op 0x${code.toString(16)} ${jt} ${jf} 0x${k.toString(16)}`;
      return `${String(pc).padStart(4)}: ${s}`;
    })
    .join('\n');
}

/**
 * Whether the kernel's seccomp action cache (Linux 5.11+) can prove that `nr` on `arch` is always
 * allowed, so the filter never runs for it: the kernel emulates the program knowing only nr and arch
 * and gives up at any other load or any opcode outside LD W ABS, JA, JEQ/JGT/JGE/JSET K, AND K, RET K.
 */
export function isConstantAllow(insns: readonly BpfInsn[], arch: number, nr: number): boolean {
  let a = 0;
  for (let pc = 0; pc < insns.length; ) {
    const { code, jt, jf, k } = insns[pc++];
    switch (code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (k === OFF_NR) a = nr >>> 0;
        else if (k === OFF_ARCH) a = arch >>> 0;
        else return false;
        break;
      case BPF_RET | BPF_K:
        return k >>> 0 === SECCOMP_RET_ALLOW;
      case BPF_JMP | BPF_JA:
        pc += k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
      case BPF_JMP | BPF_JGE | BPF_K:
      case BPF_JMP | BPF_JGT | BPF_K:
      case BPF_JMP | BPF_JSET | BPF_K: {
        const op = code & 0xf0;
        const kk = k >>> 0;
        const cond = op === BPF_JEQ ? a === kk : op === BPF_JGE ? a >= kk : op === BPF_JGT ? a > kk : ((a & kk) >>> 0) !== 0;
        pc += cond ? jt : jf;
        break;
      }
      case BPF_ALU | BPF_AND | BPF_K:
        a = (a & k) >>> 0;
        break;
      default:
        return false;
    }
  }
  return false;
}
