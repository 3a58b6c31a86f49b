/** CPU and memory-node lists in the kernel's list format ("0-3,7"), as used by execCPUAffinity. */

/** Upper bound on a CPU number we accept (the kernel's NR_CPUS is at most 8192 on common configs). */
export const MAX_CPU = 8191;

/**
 * Parse "0-3,7" into [0, 1, 2, 3, 7] (sorted, unique). The empty string gives []. Throws an Error
 * whose message describes the fault; callers wrap it in a ConfigError naming the JSON path.
 */
export function parseCpuList(text: string): number[] {
  const s = text.trim();
  if (s === '') return [];
  const out = new Set<number>();
  for (const rawPart of s.split(',')) {
    const part = rawPart.trim();
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`invalid CPU list element "${part}" in "${text}" (expected N or N-M)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`invalid CPU range "${part}" in "${text}" (end before start)`);
    if (hi > MAX_CPU) throw new Error(`CPU ${hi} in "${text}" is out of range (max ${MAX_CPU})`);
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}
