/**
 * Start-up warning for a TLS certificate near its end. Nothing renews certificates here: the
 * self-signed one made at first start lasts 397 days (see ./self_signed.ts) and is replaced
 * only when both files are removed, so the operator is told a month ahead, at every start.
 */
import { X509Certificate } from "node:crypto";

/** Days before notAfter from which every start warns. */
export const EXPIRY_WARNING_DAYS = 30;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A warning when the certificate in `certPem` expires within {@link EXPIRY_WARNING_DAYS} of
 * `now` (or has expired), saying how to renew it; undefined otherwise. A self-signed one is
 * renewed by removing `certPath` and `keyPath` (a new pair is made at the next start); any
 * other comes from its CA. Throws when `certPem` holds no parsable certificate.
 */
export function certificateExpiryWarning(
  certPem: string,
  paths: { certPath: string; keyPath: string },
  now = new Date(),
): string | undefined {
  const cert = new X509Certificate(certPem);
  const notAfter = new Date(cert.validTo);
  const left = notAfter.getTime() - now.getTime();
  if (left > EXPIRY_WARNING_DAYS * DAY_MS) return undefined;
  const when = left <= 0
    ? `expired on ${notAfter.toISOString()}`
    : `expires on ${notAfter.toISOString()} (in ${plural(Math.ceil(left / DAY_MS), "day")})`;
  // Self-signed: issuer = subject and signed by its own key. Not checkIssued(): OpenSSL's check
  // also asks for keyCertSign, which a server leaf like ours rightly does not carry.
  if (cert.issuer === cert.subject && cert.verify(cert.publicKey)) {
    return `self-signed TLS certificate ${paths.certPath} ${when}; it is not renewed ` +
      `automatically: remove ${paths.certPath} and ${paths.keyPath} and restart to have a new ` +
      `one made, or install a CA-issued certificate`;
  }
  return `TLS certificate ${paths.certPath} ${when}; renew it with its CA and reload (SIGHUP)`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * {@link certificateExpiryWarning} for the certificate file at `paths.certPath`; undefined when
 * the file cannot be read or parsed, since loading the TLS context reports that, naming the key.
 */
export function certificateFileExpiryWarning(
  paths: { certPath: string; keyPath: string },
  now = new Date(),
): string | undefined {
  try {
    return certificateExpiryWarning(Deno.readTextFileSync(paths.certPath), paths, now);
  } catch {
    return undefined;
  }
}
