/**
 * Decodes a SASL PLAIN response (RFC 4616): `[authzid] NUL authcid NUL passwd`, base64.
 * An authorization identity other than the user's own is refused: we do not act for others.
 */
export function decodeSaslPlain(base64: string): { user: string; password: string } | undefined {
  let raw: string;
  try {
    raw = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
  const parts = raw.split("\0");
  if (parts.length !== 3) return undefined;
  const [authz, user, password] = parts;
  if (user === "" || password === "") return undefined;
  if (authz !== "" && authz.toLowerCase() !== user.toLowerCase()) return undefined;
  return { user, password };
}
