import { createSecureContext, type SecureContext } from "node:tls";

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
