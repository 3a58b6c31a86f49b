/**
 * Running hooks in the runtime namespace: each hook in order, the state JSON on its stdin, its own
 * environment only (none inherited), killed when its timeout expires. Failure semantics follow the
 * runtime spec: prestart/createRuntime/createContainer/startContainer failures fail the operation
 * (later hooks do not run); poststart/poststop failures are logged and the remaining hooks still run.
 */
import { spawn } from 'node:child_process';
import { BerthError } from '../errors';
import { hookFailureIsFatal, type HookKind, type HookLogger, type HookSpec } from './types';

const OUTPUT_LIMIT = 4096;

/** Runs one hook; resolves when it exits 0, rejects with a BerthError naming it otherwise. */
export function runHook(kind: HookKind, index: number, hook: HookSpec, stateJson: string): Promise<void> {
  const name = `${kind}[${index}] ${hook.path}`;
  return new Promise<void>((resolve, reject) => {
    const args = hook.args ?? [];
    const env: Record<string, string> = {};
    for (const kv of hook.env ?? []) {
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    let output = '';
    const collect = (chunk: Buffer): void => {
      if (output.length < OUTPUT_LIMIT) output += chunk.toString('utf8').slice(0, OUTPUT_LIMIT - output.length);
    };
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const child = spawn(hook.path, args.slice(1), {
      argv0: args[0] ?? hook.path,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    // A hook that does not read its stdin must not fail us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stateJson);
    if (hook.timeout !== undefined && hook.timeout > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, hook.timeout * 1000);
    }
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new BerthError('INTERNAL', `${name}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const out = output.trim();
      const tail = out ? `: ${out}` : '';
      if (timedOut) reject(new BerthError('TIMEOUT', `${name}: timed out after ${hook.timeout}s${tail}`));
      else if (signal) reject(new BerthError('INTERNAL', `${name}: killed by ${signal}${tail}`));
      else if (code !== 0) reject(new BerthError('INTERNAL', `${name}: exit status ${code}${tail}`));
      else resolve();
    });
  });
}

/**
 * Runs the hooks of one kind in order. Fatal kinds reject on the first failure; the others log each
 * failure through `logger` and go on.
 */
export async function runHooks(kind: HookKind, hooks: readonly HookSpec[] | undefined, stateJson: string, logger: HookLogger): Promise<void> {
  if (!hooks) return;
  for (let i = 0; i < hooks.length; i++) {
    const hook = hooks[i]!;
    try {
      await runHook(kind, i, hook, stateJson);
    } catch (err) {
      if (hookFailureIsFatal(kind)) {
        const e = err instanceof BerthError ? err : new BerthError('INTERNAL', String(err), { cause: err });
        throw new BerthError(e.code, `${kind} hook failed: ${e.message}`, { cause: err });
      }
      logger.warn(`${kind} hook failed (ignored): ${(err as Error).message}`);
    }
  }
}
