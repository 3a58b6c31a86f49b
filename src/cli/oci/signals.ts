/**
 * Forwarding the signals a foreground `run`/`exec` receives to the process it waits for. Handlers are
 * installed before the process exists, so a signal that arrives while it is being created is not lost
 * (nor does it kill berth-oci and orphan the container): it is held and delivered once the pid is known.
 */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export interface SignalForwarder {
  /** Start delivering to `pid`, first the signals held so far, in order. */
  target(pid: number): void;
  /** Stop forwarding; signals get their default handling again. */
  stop(): void;
}

export function forwardSignals(): SignalForwarder {
  let pid = 0;
  const held: NodeJS.Signals[] = [];
  const send = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // The process is gone; its exit is reported by whoever waits for it.
    }
  };
  const handlers = FORWARDED.map((sig) => {
    const h = (): void => {
      if (pid > 0) send(sig);
      else held.push(sig);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return {
    target(p: number): void {
      pid = p;
      for (const sig of held.splice(0)) send(sig);
    },
    stop(): void {
      for (const [sig, h] of handlers) process.off(sig, h);
    },
  };
}
