/** Hook kinds of the runtime spec and what their failure means. */

/** One hook as config.json states it (structurally the spec's Hook). */
export interface HookSpec {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds; absent or 0 = no timeout. */
  timeout?: number;
}

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

/** Kinds whose failure fails the operation (and tears the container down). */
const FATAL: ReadonlySet<HookKind> = new Set(['prestart', 'createRuntime', 'createContainer', 'startContainer']);

export function hookFailureIsFatal(kind: HookKind): boolean {
  return FATAL.has(kind);
}

/** Where warnings about non-fatal hook failures go. */
export interface HookLogger {
  warn(message: string): void;
}
