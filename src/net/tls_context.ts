import type { Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";

/**
 * Server-side TLS options every listener and the STARTTLS upgrade share. TLS 1.2 or newer:
 * RFC 8996 retired the older versions. `honorCipherOrder`: the server's cipher preference wins
 * over the client's (RFC 9325 §4.2 lets servers choose; testssl flags a server that follows a
 * client offering a weaker suite first). Node applies it both on the context (for STARTTLS
 * sockets built from it) and on `tls.createServer`; Deno's rustls-based `node:tls` ignores it
 * today and offers only ECDHE with AEAD suites, so no suite it could pick is weak.
 */
export const TLS_SERVER_OPTIONS = { minVersion: "TLSv1.2", honorCipherOrder: true } as const;

/**
 * Loads the certificate chain and key into a TLS context with {@link TLS_SERVER_OPTIONS}.
 * Errors name the file at fault and the config key that points to it.
 */
export function loadTlsContext(certPath: string, keyPath: string): SecureContext {
  const read = (path: string, key: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (err) {
      throw new Error(
        `cannot read ${path} (tls.${key}): ${(err as Error).message}. Point tls.${key} at a ` +
          `PEM file, or remove both files to have a self-signed pair created at start.`,
      );
    }
  };
  const cert = read(certPath, "cert");
  const key = read(keyPath, "key");
  try {
    return createSecureContext({ cert, key, ...TLS_SERVER_OPTIONS });
  } catch (err) {
    throw new Error(
      `tls.cert ${certPath} and tls.key ${keyPath} do not form a usable pair: ` +
        `${(err as Error).message}`,
    );
  }
}

/**
 * Runs the server side of a TLS handshake on an accepted TCP socket: implicit TLS from the
 * first octet (RFC 8314) and the STARTTLS upgrade (RFC 3207, RFC 2595) both come through here,
 * so both kinds of connection are the same object afterwards. Wrapping a plain socket also costs
 * less per connection than `tls.createServer` with an SNI callback does on Deno (~12 KiB of RSS
 * each, measured by `deno task bench --only=idle`), and the context is the current one (SIGHUP).
 * Resolves with the secure socket, or undefined (the socket destroyed) when the handshake fails
 * or takes longer than `timeoutMs`.
 */
export function acceptTls(
  socket: Socket,
  context: SecureContext,
  timeoutMs: number,
): Promise<TLSSocket | undefined> {
  const secure = new TLSSocket(socket, { isServer: true, secureContext: context });
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      secure.off("secure", onSecure);
      secure.off("error", onFail);
      secure.off("close", onFail);
      if (ok) return resolve(secure);
      // A late alert or reset of the abandoned socket must not be an unhandled "error".
      secure.on("error", () => {});
      secure.destroy();
      socket.destroy();
      resolve(undefined);
    };
    const onSecure = () => done(true);
    const onFail = () => done(false);
    const timer = setTimeout(onFail, timeoutMs);
    secure.once("secure", onSecure);
    secure.once("error", onFail);
    secure.once("close", onFail);
  });
}
