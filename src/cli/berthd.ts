/**
 * berthd: the Kubernetes CRI daemon (docs/berthd.md).
 *
 *   berthd [--config FILE] [--socket PATH] [--root DIR] [--run-root DIR] [--log-level LEVEL]
 *
 * Serves CRI runtime.v1 on a unix socket until SIGTERM or SIGINT, then stops serving and exits,
 * leaving pods (and containers) running. Logs one JSON object per line on stderr.
 */
import { parseArgs } from 'node:util';
import { BerthError } from '../runtime/errors';
import { LOG_LEVELS, loadConfig, type ConfigOverrides, type LogLevel } from '../daemon/config';
import { startDaemon } from '../daemon/daemon';
import { createLogger } from '../daemon/log';
import { enableSpawner } from '../util/spawner';

const USAGE = `usage: berthd [--config FILE] [--socket PATH] [--root DIR] [--run-root DIR] [--log-level debug|info|warn|error]
`;

export async function main(argv: readonly string[]): Promise<number> {
  // mount, umount, unshare and CNI plugins run through native berth-spawner, not by forking this
  // process (bench/README.md, "cri"); BERTH_SPAWNER=0 turns it off
  enableSpawner();
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        socket: { type: 'string' },
        root: { type: 'string' },
        'run-root': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    process.stderr.write(`berthd: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const level = values['log-level'];
  if (typeof level === 'string' && !(LOG_LEVELS as readonly string[]).includes(level)) {
    process.stderr.write(`berthd: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
    return 2;
  }
  const overrides: ConfigOverrides = {};
  if (typeof values.socket === 'string') overrides.socket = values.socket;
  if (typeof values.root === 'string') overrides.root = values.root;
  if (typeof values['run-root'] === 'string') overrides.runRoot = values['run-root'];
  if (typeof level === 'string') overrides.logLevel = level as LogLevel;
  const log = createLogger('info');
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    const cfg = loadConfig(typeof values.config === 'string' ? values.config : undefined, overrides);
    log.level = cfg.logLevel;
    daemon = await startDaemon(cfg, log);
  } catch (err) {
    log.error('berthd failed to start', { err: err instanceof BerthError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err) });
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info('signal received; stopping', { signal });
      daemon.close().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('stop failed', { err: (err as Error).message });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
