/**
 * Modified UTF-7, the IMAP4rev1 encoding of mailbox names (RFC 3501 §5.1.3): printable US-ASCII
 * stands for itself ("&" is written "&-"), anything else is UTF-16BE in "&...-" shifts, in
 * base64 with "," for "/" and no padding. IMAP4rev2 and UTF8=ACCEPT use plain UTF-8 instead.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

const isDirect = (c: number) => c >= 0x20 && c <= 0x7e;

/** Encodes a mailbox name to modified UTF-7 (RFC 3501 §5.1.3). */
export function encodeMutf7(name: string): string {
  let out = "";
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c === 0x26) {
      out += "&-";
      i++;
    } else if (isDirect(c)) {
      out += name[i++];
    } else {
      // One shift holds the whole run of non-direct UTF-16 code units.
      let j = i;
      while (j < name.length && !isDirect(name.charCodeAt(j))) j++;
      out += "&" + encodeUnits(name, i, j) + "-";
      i = j;
    }
  }
  return out;
}

function encodeUnits(s: string, from: number, to: number): string {
  let out = "";
  let bits = 0;
  let nbits = 0;
  for (let i = from; i < to; i++) {
    bits = (bits << 16) | s.charCodeAt(i);
    nbits += 16;
    while (nbits >= 6) {
      nbits -= 6;
      out += ALPHABET[(bits >> nbits) & 63];
    }
    bits &= (1 << nbits) - 1;
  }
  if (nbits > 0) out += ALPHABET[(bits << (6 - nbits)) & 63];
  return out;
}

/**
 * Decodes a modified UTF-7 mailbox name; undefined when it is malformed: a character outside
 * printable US-ASCII, an unclosed or empty-but-not-"&-" shift, a character outside the modified
 * base64 alphabet (this includes "=" padding), non-zero or too many leftover bits, an odd
 * number of octets, a lone surrogate, or an encoded character that must be written directly.
 */
export function decodeMutf7(text: string): string | undefined {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (!isDirect(c)) return undefined;
    if (c !== 0x26) {
      out += text[i++];
      continue;
    }
    const end = text.indexOf("-", i + 1);
    if (end < 0) return undefined;
    if (end === i + 1) {
      out += "&";
    } else {
      const decoded = decodeShift(text, i + 1, end);
      if (decoded === undefined) return undefined;
      out += decoded;
    }
    i = end + 1;
  }
  return out;
}

function decodeShift(s: string, from: number, to: number): string | undefined {
  let bits = 0;
  let nbits = 0;
  let out = "";
  const units: number[] = [];
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? VALUE[c] : -1;
    if (v < 0) return undefined;
    bits = ((bits << 6) | v) & 0x3fffff;
    nbits += 6;
    if (nbits >= 16) {
      nbits -= 16;
      units.push((bits >> nbits) & 0xffff);
    }
  }
  // Leftover bits are the padding of the last unit: fewer than 6 and all zero.
  if (nbits >= 6 || (bits & ((1 << nbits) - 1)) !== 0) return undefined;
  for (let k = 0; k < units.length; k++) {
    const u = units[k];
    if (isDirect(u)) return undefined;
    if (u >= 0xd800 && u <= 0xdbff) {
      const low = units[k + 1];
      if (low === undefined || low < 0xdc00 || low > 0xdfff) return undefined;
      out += String.fromCharCode(u, low);
      k++;
    } else if (u >= 0xdc00 && u <= 0xdfff) {
      return undefined;
    } else {
      out += String.fromCharCode(u);
    }
  }
  return out;
}
