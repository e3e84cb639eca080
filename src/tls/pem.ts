/** PEM armour (RFC 7468) for the DER blobs the TLS and DKIM key generators produce. */

/** Standard base64 of bytes, without line breaks. */
export function bytesToBase64(bytes: Uint8Array): string {
  // Chunked so String.fromCharCode never receives more arguments than the engine allows.
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Decodes standard base64 (whitespace ignored); throws on anything else. */
export function base64ToBytes(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new SyntaxError("invalid base64");
  }
  const binary = atob(compact);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Wraps DER in PEM with 64-character lines (the strict RFC 7468 §3 form that every TLS stack,
 * including old OpenSSL builds, accepts) and a trailing newline.
 */
export function derToPem(label: string, der: Uint8Array): string {
  const b64 = bytesToBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * Extracts the DER of the first PEM block with the given label. The label is checked so that,
 * for example, a private key handed where a public key belongs fails loudly instead of leaking
 * into a DNS record.
 */
export function pemToDer(pem: string, label: string): Uint8Array {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(
    `-----BEGIN ${escaped}-----([A-Za-z0-9+/=\\s]*)-----END ${escaped}-----`,
  ).exec(pem);
  if (!match) throw new SyntaxError(`no "${label}" PEM block found`);
  const der = base64ToBytes(match[1]);
  if (der.length === 0) throw new SyntaxError(`empty "${label}" PEM block`);
  return der;
}
