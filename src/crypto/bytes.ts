/**
 * Byte helpers shared by the crypto modules: WebCrypto-compatible buffers, concatenation,
 * randomness and the Crockford base32 used for printed recovery keys.
 */

/** Bytes backed by a plain `ArrayBuffer`, the only kind WebCrypto's `BufferSource` accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

/**
 * Returns `bytes` typed as {@link Bytes}, copying only when they live in a `SharedArrayBuffer`
 * (callers hand us `Uint8Array`, which TypeScript cannot prove is WebCrypto-compatible).
 */
export function asBytes(bytes: Uint8Array): Bytes {
  if (bytes.buffer instanceof ArrayBuffer) return bytes as Bytes;
  return new Uint8Array(bytes);
}

/** Concatenates byte arrays into a new one. */
export function concatBytes(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** `n` bytes from the platform CSPRNG. */
export function randomBytes(n: number): Bytes {
  return crypto.getRandomValues(new Uint8Array(n));
}

const encoder = new TextEncoder();

/** UTF-8 encoding of `text`. */
export function utf8(text: string): Bytes {
  return encoder.encode(text);
}

/** Standard base64 (with padding) of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/** Decodes strict standard base64; throws `SyntaxError` on anything else. */
export function fromBase64(text: string): Bytes {
  // "strict" rejects stray bits in the last character, so one stored value has one encoding.
  return Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
}

// Crockford's alphabet leaves out I, L, O and U so a printed key cannot be misread.
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Crockford base32 of `bytes`, upper case, no padding. */
export function toCrockfordBase32(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1; // keep only the unread bits so `acc` never overflows
  }
  if (bits > 0) out += CROCKFORD[(acc << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes Crockford base32 the way a person types it back: case-insensitive, `-` and
 * whitespace ignored, `O` read as 0 and `I`/`L` as 1. Returns undefined on any other character.
 */
export function fromCrockfordBase32(text: string): Bytes | undefined {
  const clean = text.toUpperCase().replace(/[\s-]+/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
  const out = new Uint8Array(Math.floor((clean.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (const ch of clean) {
    const value = CROCKFORD.indexOf(ch);
    if (value < 0) return undefined;
    acc = (acc << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  return out;
}
