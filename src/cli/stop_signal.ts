/** Waiting for the signal that stops a running server (systemctl stop, Ctrl-C). */

/** Resolves with the name of the first SIGTERM or SIGINT, then listens for neither. */
export function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const signals = ["SIGTERM", "SIGINT"] as const;
    const handlers = signals.map((sig) => {
      const handler = () => {
        signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i]));
        resolve(sig);
      };
      Deno.addSignalListener(sig, handler);
      return handler;
    });
  });
}
