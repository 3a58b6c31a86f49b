import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_DIV,
  BPF_IMM,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MEM,
  BPF_MISC,
  BPF_MOD,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BPF_XOR,
  type BpfInsn,
  decodeProgram,
  encodeProgram,
  jump,
  runSeccomp,
  seccompDataBytes,
  stmt,
  validateSeccompProgram,
} from '../../src/runtime/seccomp/bpf';

const ret = (k: number) => stmt(BPF_RET | BPF_K, k);
const ldAbs = (k: number) => stmt(BPF_LD | BPF_W | BPF_ABS, k);
const data = { nr: 257, arch: 0xc000003e, instructionPointer: 0x1122334455667788n, args: [0x1_0000_0002n, 7n, 0n, 0n, 0n, 0xffffffffffffffffn] };

describe('classic BPF interpreter', () => {
  it('lays out seccomp_data like the kernel (little-endian)', () => {
    const b = seccompDataBytes(data);
    assert.equal(b.length, 64);
    const dv = new DataView(b.buffer);
    assert.equal(dv.getInt32(0, true), 257);
    assert.equal(dv.getUint32(4, true), 0xc000003e);
    assert.equal(dv.getUint32(8, true), 0x55667788);
    assert.equal(dv.getUint32(12, true), 0x11223344);
    assert.equal(dv.getUint32(16, true), 2);
    assert.equal(dv.getUint32(20, true), 1);
    assert.equal(dv.getUint32(56, true), 0xffffffff);
    assert.equal(dv.getUint32(60, true), 0xffffffff);
  });

  it('loads words, compares, jumps and returns', () => {
    const p: BpfInsn[] = [
      ldAbs(0), // nr
      jump(BPF_JMP | BPF_JEQ | BPF_K, 257, 0, 3),
      ldAbs(20), // args[0] high
      jump(BPF_JMP | BPF_JGT | BPF_K, 0, 0, 1),
      ret(1),
      ret(2),
    ];
    assert.equal(runSeccomp(p, data), 1);
    assert.equal(runSeccomp(p, { ...data, args: [2n] }), 2);
    assert.equal(runSeccomp(p, { ...data, nr: 1 }), 2);
  });

  it('JGE, JSET, JA, ALU with K and X, scratch memory, TAX/TXA, RET A, LEN, IMM', () => {
    const p: BpfInsn[] = [
      stmt(BPF_LD | BPF_IMM, 6), // A = 6
      stmt(BPF_ALU | BPF_MUL | BPF_K, 7), // 42
      stmt(BPF_ST, 3), // M[3] = 42
      stmt(BPF_LDX | BPF_IMM, 5), // X = 5
      stmt(BPF_ALU | BPF_ADD | BPF_X, 0), // 47
      stmt(BPF_ALU | BPF_SUB | BPF_K, 2), // 45
      stmt(BPF_ALU | BPF_DIV | BPF_K, 4), // 11
      stmt(BPF_ALU | BPF_MOD | BPF_K, 7), // 4
      stmt(BPF_ALU | BPF_LSH | BPF_K, 4), // 64
      stmt(BPF_ALU | BPF_OR | BPF_K, 3), // 67
      stmt(BPF_ALU | BPF_XOR | BPF_K, 1), // 66
      stmt(BPF_ALU | BPF_RSH | BPF_K, 1), // 33
      stmt(BPF_ALU | BPF_AND | BPF_K, 0x21), // 33
      jump(BPF_JMP | BPF_JSET | BPF_K, 0x20, 1, 0),
      ret(0xdead),
      jump(BPF_JMP | BPF_JGE | BPF_K, 33, 1, 0),
      ret(0xbeef),
      stmt(BPF_MISC | BPF_TAX, 0), // X = 33
      stmt(BPF_LD | BPF_MEM, 3), // A = 42
      jump(BPF_JMP | BPF_JGT | BPF_X, 0, 1, 0), // 42 > 33
      ret(0xbad),
      stmt(BPF_STX, 4), // M[4] = 33
      stmt(BPF_LDX | BPF_MEM, 4), // X = 33
      stmt(BPF_MISC | BPF_TXA, 0), // A = 33
      stmt(BPF_ALU | BPF_NEG, 0), // A = -33
      stmt(BPF_ALU | BPF_ADD | BPF_K, 33), // 0
      jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
      ret(0xbad2),
      stmt(BPF_LD | BPF_W | BPF_LEN, 0), // 64
      stmt(BPF_JMP | BPF_JA, 1),
      ret(0xbad3),
      stmt(BPF_RET | BPF_A, 0),
    ];
    assert.equal(validateSeccompProgram(p), null);
    assert.equal(runSeccomp(p, data), 64);
  });

  it('divides by a zero X as the kernel does (the filter returns 0)', () => {
    const p = [stmt(BPF_LDX | BPF_IMM, 0), stmt(BPF_LD | BPF_IMM, 9), stmt(BPF_ALU | BPF_DIV | BPF_X, 0), ret(5)];
    assert.equal(runSeccomp(p, data), 0);
  });

  it('refuses what the kernel refuses', () => {
    assert.match(validateSeccompProgram([]) ?? '', /length/);
    assert.match(validateSeccompProgram(Array.from({ length: 4097 }, () => ret(0))) ?? '', /length/);
    assert.match(validateSeccompProgram([ldAbs(64), ret(0)]) ?? '', /outside/);
    assert.match(validateSeccompProgram([ldAbs(2), ret(0)]) ?? '', /outside/);
    assert.match(validateSeccompProgram([jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), ret(0)]) ?? '', /range/);
    assert.match(validateSeccompProgram([stmt(BPF_JMP | BPF_JA, 1), ret(0)]) ?? '', /range/);
    assert.match(validateSeccompProgram([ldAbs(0)]) ?? '', /return/);
    assert.match(validateSeccompProgram([stmt(BPF_ST, 16), ret(0)]) ?? '', /memory/);
    assert.match(validateSeccompProgram([stmt(BPF_ALU | BPF_DIV | BPF_K, 0), ret(0)]) ?? '', /zero/);
    assert.match(validateSeccompProgram([stmt(BPF_LD | BPF_W | 0x40 /* IND */, 0), ret(0)]) ?? '', /not allowed/);
    assert.throws(() => runSeccomp([ldAbs(0)], data), /invalid/);
    assert.equal(BPF_A, 0x10);
  });

  it('encodes and decodes 8-byte instructions', () => {
    const p = [jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000003e, 1, 2), ret(0x7fff0000)];
    const bytes = encodeProgram(p);
    assert.deepEqual([...bytes], [0x15, 0, 1, 2, 0x3e, 0, 0, 0xc0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]);
    assert.deepEqual(decodeProgram(bytes), p);
    assert.throws(() => decodeProgram(new Uint8Array(7)));
  });
});
