/**
 * A tiny ASN.1 DER encoder: just enough to build an X.509 certificate by hand.
 *
 * It exists so the server can mint its own certificate on first start without shelling out to
 * `openssl` (the single-binary build may land on a VPS that has none). Every function returns
 * the complete encoding (tag, length, contents) so values compose by nesting calls.
 */

/**
 * Encoded output. Pinned to a plain ArrayBuffer so results can be handed straight to
 * `crypto.subtle`, whose BufferSource type rejects views that might be shared memory.
 */
export type DerBytes = Uint8Array<ArrayBuffer>;

/** Universal tag numbers used below (X.680 §8.4). */
const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Concatenates byte arrays into one fresh array. */
export function concatBytes(...parts: Uint8Array[]): DerBytes {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Encodes a DER length: short form below 128, otherwise long form with the minimum number of
 * big-endian length octets (DER forbids padding them, X.690 §10.1).
 */
export function encodeLength(length: number): DerBytes {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`invalid DER length ${length}`);
  }
  if (length < 0x80) return Uint8Array.of(length);
  const octets: number[] = [];
  // Division rather than >>> so lengths past 2^32 do not silently wrap.
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  return Uint8Array.of(0x80 | octets.length, ...octets);
}

/** Encodes one tag-length-value triple with a single-octet tag. */
export function tlv(tag: number, contents: Uint8Array): DerBytes {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) {
    // High tag numbers (>= 31) need multi-octet tags, which nothing in X.509 here uses.
    throw new RangeError(`unsupported DER tag ${tag}`);
  }
  return concatBytes(Uint8Array.of(tag), encodeLength(contents.length), contents);
}

/** SEQUENCE of already-encoded elements, in the given order. */
export function sequence(...elements: Uint8Array[]): DerBytes {
  return tlv(TAG.SEQUENCE, concatBytes(...elements));
}

/**
 * SET OF already-encoded elements. DER requires the elements sorted by their encodings
 * (X.690 §11.6), so they are sorted here rather than trusting the caller's order.
 */
export function set(...elements: Uint8Array[]): DerBytes {
  const sorted = [...elements].sort(compareBytes);
  return tlv(TAG.SET, concatBytes(...sorted));
}

/** Lexicographic byte comparison, a shorter prefix sorting first (X.690 §11.6 padding rule). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/**
 * INTEGER from big-endian unsigned magnitude bytes (e.g. a serial number or an RSA modulus).
 *
 * Redundant leading zero octets are stripped and one 0x00 is prepended when the top bit is set,
 * because DER integers are two's complement and must use the minimum number of octets.
 */
export function integer(unsignedBigEndian: Uint8Array): DerBytes {
  let start = 0;
  while (start < unsignedBigEndian.length - 1 && unsignedBigEndian[start] === 0) start++;
  let body = unsignedBigEndian.subarray(start);
  if (body.length === 0) body = Uint8Array.of(0);
  if (body[0] & 0x80) body = concatBytes(Uint8Array.of(0), body);
  return tlv(TAG.INTEGER, body);
}

/** INTEGER from a small non-negative JavaScript number (versions, counters). */
export function smallInteger(value: number): DerBytes {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`smallInteger needs a non-negative safe integer, got ${value}`);
  }
  const octets: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  return integer(Uint8Array.from(octets));
}

/** OBJECT IDENTIFIER from dotted form such as "2.5.4.3" (X.690 §8.19). */
export function oid(dotted: string): DerBytes {
  if (!/^[0-2](\.\d+)+$/.test(dotted)) throw new SyntaxError(`invalid OID "${dotted}"`);
  const arcs = dotted.split(".").map((s) => BigInt(s));
  if (arcs[0] < 2n && arcs[1] > 39n) throw new SyntaxError(`invalid OID "${dotted}"`);
  // The first two arcs share one subidentifier; BigInt keeps huge arcs (UUID OIDs) exact.
  const subids = [arcs[0] * 40n + arcs[1], ...arcs.slice(2)];
  const out: number[] = [];
  for (const id of subids) {
    const base128: number[] = [Number(id & 0x7fn)];
    for (let n = id >> 7n; n > 0n; n >>= 7n) base128.unshift(Number(n & 0x7fn) | 0x80);
    out.push(...base128);
  }
  return tlv(TAG.OID, Uint8Array.from(out));
}

/** UTF8String. */
export function utf8String(text: string): DerBytes {
  return tlv(TAG.UTF8_STRING, new TextEncoder().encode(text));
}

/** PrintableString; throws on characters outside its restricted alphabet (X.680 §41.4). */
export function printableString(text: string): DerBytes {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text)) {
    throw new SyntaxError(`not a PrintableString: ${JSON.stringify(text)}`);
  }
  return tlv(TAG.PRINTABLE_STRING, new TextEncoder().encode(text));
}

/** IA5String (ASCII), the type of DNS names inside subjectAltName. */
export function ia5String(text: string): DerBytes {
  if ([...text].some((c) => c.charCodeAt(0) > 0x7f)) {
    throw new SyntaxError(`not an IA5String: ${JSON.stringify(text)}`);
  }
  return tlv(TAG.IA5_STRING, new TextEncoder().encode(text));
}

/** Zero-pads a number to `width` digits. */
function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** Rejects invalid dates early; otherwise they would encode as "NaNNaN..." and fail far away. */
function checkDate(date: Date): void {
  if (Number.isNaN(date.getTime())) throw new RangeError("invalid Date");
}

/**
 * UTCTime as YYMMDDHHMMSSZ. Seconds are always present and fractions dropped, as RFC 5280
 * §4.1.2.5.1 requires; only years 1950..2049 are representable.
 */
export function utcTime(date: Date): DerBytes {
  checkDate(date);
  const y = date.getUTCFullYear();
  if (y < 1950 || y > 2049) throw new RangeError(`UTCTime cannot hold year ${y}`);
  const s = pad(y % 100, 2) + pad(date.getUTCMonth() + 1, 2) + pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) + pad(date.getUTCMinutes(), 2) + pad(date.getUTCSeconds(), 2) + "Z";
  return tlv(TAG.UTC_TIME, new TextEncoder().encode(s));
}

/** GeneralizedTime as YYYYMMDDHHMMSSZ, without fractional seconds (RFC 5280 §4.1.2.5.2). */
export function generalizedTime(date: Date): DerBytes {
  checkDate(date);
  const y = date.getUTCFullYear();
  if (y < 0 || y > 9999) throw new RangeError(`GeneralizedTime cannot hold year ${y}`);
  const s = pad(y, 4) + pad(date.getUTCMonth() + 1, 2) + pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) + pad(date.getUTCMinutes(), 2) + pad(date.getUTCSeconds(), 2) + "Z";
  return tlv(TAG.GENERALIZED_TIME, new TextEncoder().encode(s));
}

/**
 * X.509 Time: UTCTime for years 1950..2049 and GeneralizedTime otherwise, as RFC 5280
 * §4.1.2.5 mandates (conforming parsers reject GeneralizedTime for earlier dates).
 */
export function x509Time(date: Date): DerBytes {
  checkDate(date);
  const y = date.getUTCFullYear();
  return y >= 1950 && y < 2050 ? utcTime(date) : generalizedTime(date);
}

/** BIT STRING; `unusedBits` counts the padding bits at the end of the last octet. */
export function bitString(bytes: Uint8Array, unusedBits = 0): DerBytes {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7) {
    throw new RangeError(`unusedBits must be 0..7, got ${unusedBits}`);
  }
  if (bytes.length === 0 && unusedBits !== 0) {
    throw new RangeError("an empty BIT STRING cannot have unused bits");
  }
  return tlv(TAG.BIT_STRING, concatBytes(Uint8Array.of(unusedBits), bytes));
}

/**
 * BIT STRING for a NamedBitList such as keyUsage, given the set bit numbers (bit 0 is the
 * most significant bit of the first octet). DER drops trailing zero bits (X.690 §11.2.2), so
 * the length and unused-bit count follow from the highest set bit.
 */
export function namedBits(bits: number[]): DerBytes {
  if (bits.length === 0) return bitString(new Uint8Array(0));
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const b of bits) {
    if (!Number.isInteger(b) || b < 0) throw new RangeError(`invalid bit number ${b}`);
    bytes[b >> 3] |= 0x80 >> (b & 7);
  }
  return bitString(bytes, 7 - (highest & 7));
}

/** OCTET STRING. */
export function octetString(bytes: Uint8Array): DerBytes {
  return tlv(TAG.OCTET_STRING, bytes);
}

/** NULL (the parameters of rsaEncryption / sha256WithRSAEncryption AlgorithmIdentifiers). */
export function nullValue(): DerBytes {
  return Uint8Array.of(TAG.NULL, 0x00);
}

/** BOOLEAN; DER requires 0xFF for true (X.690 §11.1). */
export function boolean(value: boolean): DerBytes {
  return Uint8Array.of(TAG.BOOLEAN, 0x01, value ? 0xff : 0x00);
}

/** Checks a context-specific tag number fits the single-octet form. */
function checkContextTag(tagNumber: number): void {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) {
    throw new RangeError(`context tag number must be 0..30, got ${tagNumber}`);
  }
}

/** Context-specific EXPLICIT tag `[n]` wrapping a complete encoding (constructed, 0xA0 | n). */
export function explicit(tagNumber: number, inner: Uint8Array): DerBytes {
  checkContextTag(tagNumber);
  return tlv(0xa0 | tagNumber, inner);
}

/**
 * Context-specific IMPLICIT primitive tag `[n]` over raw contents (0x80 | n), as GeneralName
 * uses for dNSName [2] and iPAddress [7].
 */
export function implicitPrimitive(tagNumber: number, contents: Uint8Array): DerBytes {
  checkContextTag(tagNumber);
  return tlv(0x80 | tagNumber, contents);
}
