/** Signal names to numbers (Linux on x86, arm, arm64, riscv, ppc, s390: the generic numbering). */
import { ConfigError } from '../../runtime/errors';

export const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11,
  USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CLD: 17, CONT: 18, STOP: 19, TSTP: 20,
  TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29,
  PWR: 30, SYS: 31, RTMIN: 34, RTMAX: 64,
};

const SIGRTMIN = 34;
const SIGRTMAX = 64;

/**
 * "SIGTERM", "term", "15", "SIGRTMIN+3", "RTMAX-1" -> number. `path` names the field for errors.
 */
export function parseSignal(s: string, path = 'StopSignal'): number {
  const raw = s.trim();
  if (/^[0-9]+$/.test(raw)) {
    const n = Number(raw);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw new ConfigError(path, `signal ${raw} out of range 1..${SIGRTMAX}`);
  }
  const name = raw.toUpperCase().replace(/^SIG/, '');
  const rt = /^(RTMIN|RTMAX)([+-])([0-9]+)$/.exec(name);
  if (rt) {
    const n = (rt[1] === 'RTMIN' ? SIGRTMIN : SIGRTMAX) + (rt[2] === '+' ? 1 : -1) * Number(rt[3]);
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
    throw new ConfigError(path, `signal ${raw} out of range`);
  }
  const n = SIGNALS[name];
  if (n === undefined) throw new ConfigError(path, `unknown signal ${JSON.stringify(s)}`);
  return n;
}

/** The canonical name of a signal number ("SIGTERM", "SIGRTMIN+2"). */
export function signalName(n: number): string {
  for (const [k, v] of Object.entries(SIGNALS)) {
    if (v === n && k !== 'IOT' && k !== 'CLD' && k !== 'POLL') return `SIG${k}`;
  }
  if (n > SIGRTMIN && n < SIGRTMAX) return `SIGRTMIN+${n - SIGRTMIN}`;
  return String(n);
}
