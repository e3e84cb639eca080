import { createSecureContext, type SecureContext } from "node:tls";

/**
 * Loads the certificate chain and key into a TLS context (TLS 1.2 or newer: RFC 8996 retired
 * the older versions). Errors name the file at fault and the config key that points to it.
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
    return createSecureContext({ cert, key, minVersion: "TLSv1.2" });
  } catch (err) {
    throw new Error(
      `tls.cert ${certPath} and tls.key ${keyPath} do not form a usable pair: ` +
        `${(err as Error).message}`,
    );
  }
}
