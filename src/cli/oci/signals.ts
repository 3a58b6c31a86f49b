/** Forwarding the signals a foreground `run`/`exec` receives to the process it waits for. */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** Returns a function that stops forwarding. */
export function forwardSignals(pid: number): () => void {
  const handlers = FORWARDED.map((sig) => {
    const h = (): void => {
      try {
        process.kill(pid, sig);
      } catch {
        // The process is gone; its exit is reported by whoever waits for it.
      }
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}
