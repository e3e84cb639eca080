/**
 * DKIM signing (RFC 6376 §5) with WebCrypto: rsa-sha256 (RFC 6376 §3.3.1) and ed25519-sha256
 * (RFC 8463 §3), relaxed/relaxed canonicalization, no l= (the whole body is signed). An RSA key
 * imported by `keys.ts` signs through libcrypto when it can (`native_rsa_sign.ts`: the same
 * octets, ~8× faster, off the event loop).
 */

import {
  binaryToBytes,
  bytesToBinary,
  type Canonicalization,
  canonicalizeBody,
  canonicalizeHeader,
} from "./canonicalize.ts";
import { nativeSignerOf } from "../crypto/native_rsa_sign.ts";
import { type HeaderField, splitMessage } from "./message.ts";

/** The signing algorithms this signer produces (RFC 6376 §3.3, RFC 8463 §3). */
export type DkimAlgorithm = "rsa-sha256" | "ed25519-sha256";

/** A private key ready to sign with. */
export interface DkimSigningKey {
  /** `a=` of the signature this key makes. */
  algorithm: DkimAlgorithm;
  /**
   * WebCrypto private key with the "sign" usage: RSASSA-PKCS1-v1_5 with SHA-256 for rsa-sha256,
   * Ed25519 for ed25519-sha256.
   */
  key: CryptoKey;
  /** `s=` for this key; when absent, {@link dkimSelector} of the options' selector. */
  selector?: string;
}

/** Options of {@link signMessage}. */
export interface SignOptions {
  /** `d=`: the signing domain, normally the domain of the From address. */
  domain: string;
  /** Base selector (config `[dkim] selector`, default "default"). */
  selector: string;
  /** One signature is made per key: rsa-sha256 ones first, then ed25519-sha256 ones. */
  keys: readonly DkimSigningKey[];
  /** `t=`; defaults to the current time. */
  now?: Date;
}

/**
 * Header fields signed when present (RFC 6376 §5.4.1 recommends these); From, which §5.4
 * requires, is additionally oversigned.
 */
export const SIGNED_HEADERS: readonly string[] = [
  "From",
  "To",
  "Cc",
  "Subject",
  "Date",
  "Message-ID",
  "MIME-Version",
  "Content-Type",
  "Reply-To",
  "In-Reply-To",
  "References",
];

/** Longest header line we emit, CRLF excluded (RFC 5322 §2.1.1 "SHOULD" limit). */
const MAX_LINE = 78;

const ORDER: Record<DkimAlgorithm, number> = { "rsa-sha256": 0, "ed25519-sha256": 1 };

/** Domain and selector names: dot-separated labels (RFC 6376 §3.1, §3.5 "d=" and "s="). */
const NAME =
  /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/;

/**
 * The selector a key of `algorithm` publishes under. A selector names exactly one TXT record
 * (RFC 6376 §3.6.2.2: several records at one selector give undefined results), so the ed25519
 * key cannot share the RSA key's name: rsa-sha256 uses `selector`, ed25519-sha256 uses
 * `<selector>-ed25519` (RFC 8463 §A.2 likewise gives each key its own selector).
 */
export function dkimSelector(selector: string, algorithm: DkimAlgorithm): string {
  return algorithm === "ed25519-sha256" ? `${selector}-ed25519` : selector;
}

/**
 * Signs `message` (the complete message as it will be sent) and returns the DKIM-Signature
 * header field(s) to prepend to it, each folded at 78 characters and ended by CRLF. Signed
 * fields: each {@link SIGNED_HEADERS} name once per instance present, From once more than it
 * occurs, so that no From field can be added later without breaking the signature (RFC 6376
 * §8.15). Resolves to "" when `keys` is empty.
 */
export async function signMessage(message: Uint8Array, opts: SignOptions): Promise<string> {
  if (!NAME.test(opts.domain.replace(/\.$/, ""))) {
    throw new TypeError(`invalid DKIM signing domain: ${JSON.stringify(opts.domain)}`);
  }
  const { headers, body } = splitMessage(message);
  const names = signedHeaderNames(headers);
  if (countFields(headers, "From") === 0) {
    // RFC 6376 §5.4: the From field MUST be signed, so a message without one cannot be.
    throw new TypeError("cannot DKIM-sign a message without a From header field");
  }
  const bh = bytesToBase64(await sha256(canonicalizeBody(body, "relaxed")));
  const t = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const keys = [...opts.keys].sort((a, b) => ORDER[a.algorithm] - ORDER[b.algorithm]);
  let out = "";
  for (const key of keys) {
    const selector = key.selector ?? dkimSelector(opts.selector, key.algorithm);
    if (!NAME.test(selector)) {
      throw new TypeError(`invalid DKIM selector: ${JSON.stringify(selector)}`);
    }
    const unsigned = foldTags([
      "v=1",
      `a=${key.algorithm}`,
      "c=relaxed/relaxed",
      `d=${opts.domain.replace(/\.$/, "")}`,
      `s=${selector}`,
      `t=${t}`,
      `h=${names.join(":")}`,
      `bh=${bh}`,
    ]);
    const data = headerHashInput(headers, names, unsigned, "relaxed");
    const b = bytesToBase64(await dkimSign(key, data));
    out += appendFolded(unsigned, b) + "\r\n";
  }
  return out;
}

/** The h= list for `headers`: present SIGNED_HEADERS once per instance, plus From once more. */
function signedHeaderNames(headers: readonly HeaderField[]): string[] {
  const names: string[] = [];
  for (const name of SIGNED_HEADERS) {
    const count = countFields(headers, name) + (name === "From" ? 1 : 0);
    for (let i = 0; i < count; i++) names.push(name);
  }
  return names;
}

function countFields(headers: readonly HeaderField[], name: string): number {
  const lower = name.toLowerCase();
  return headers.filter((h) => h.name.toLowerCase() === lower).length;
}

/**
 * The octets the header hash covers (RFC 6376 §3.7): for each name of `hNames`, the next
 * not-yet-used instance of that field counting from the bottom of the header (§5.4.2), or
 * nothing once the instances run out; then the DKIM-Signature field itself with its b= value
 * empty and no trailing CRLF. `signatureField` is that field (binary string) ending in "b=".
 */
export function headerHashInput(
  headers: readonly HeaderField[],
  hNames: readonly string[],
  signatureField: string,
  canonicalization: Canonicalization,
): Uint8Array<ArrayBuffer> {
  const used = new Map<string, number>();
  let text = "";
  for (const hName of hNames) {
    const lower = hName.trim().toLowerCase();
    const instances = headers.filter((h) => h.name.toLowerCase() === lower);
    const n = used.get(lower) ?? 0;
    used.set(lower, n + 1);
    const field = instances[instances.length - 1 - n];
    if (field) text += canonicalizeHeader(field.raw, canonicalization);
  }
  text += canonicalizeHeader(signatureField, canonicalization).replace(/\r\n$/, "");
  return binaryToBytes(text);
}

/**
 * The b= signature octets over the header hash input `data`: RSASSA-PKCS1-v1_5 with SHA-256 for
 * rsa-sha256 (RFC 6376 §3.3.1); for ed25519-sha256, PureEdDSA Ed25519 over the SHA-256 hash of
 * `data` (RFC 8463 §3), which is the hash that rsa-sha256 signs too.
 */
export async function dkimSign(
  key: DkimSigningKey,
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const name = key.key.algorithm.name;
  if (key.algorithm === "rsa-sha256") {
    const hash = (key.key.algorithm as RsaHashedKeyAlgorithm).hash?.name;
    if (name !== "RSASSA-PKCS1-v1_5" || hash !== "SHA-256") {
      throw new TypeError(`rsa-sha256 needs an RSASSA-PKCS1-v1_5 SHA-256 key, got ${name}`);
    }
    const native = nativeSignerOf(key.key);
    if (native) return await native.sign(data);
    return new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key.key, data));
  }
  if (key.algorithm === "ed25519-sha256") {
    if (name !== "Ed25519") throw new TypeError(`ed25519-sha256 needs an Ed25519 key, got ${name}`);
    return new Uint8Array(await crypto.subtle.sign("Ed25519", key.key, await sha256(data)));
  }
  throw new TypeError(`unsupported DKIM algorithm: ${String(key.algorithm)}`);
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

function bytesToBase64(bytes: Uint8Array): string {
  return btoa(bytesToBinary(bytes));
}

/**
 * Lays the tags out as `DKIM-Signature: t1; t2; …; b=` folded so no line passes 78 characters:
 * folds go between tags, and inside h= after a colon (the FWS that RFC 6376 §3.5 allows there).
 */
function foldTags(tags: readonly string[]): string {
  const pieces: string[] = [];
  for (const tag of tags) {
    if (tag.startsWith("h=")) {
      const parts = tag.split(":");
      parts.forEach((part, i) => pieces.push(i < parts.length - 1 ? part + ":" : part + ";"));
    } else {
      pieces.push(tag + ";");
    }
  }
  pieces.push("b=");
  const lines = ["DKIM-Signature:"];
  let glue = " ";
  for (const piece of pieces) {
    const last = lines.length - 1;
    if (lines[last].length + glue.length + piece.length <= MAX_LINE) {
      lines[last] += glue + piece;
    } else {
      lines.push(" " + piece);
    }
    glue = piece.endsWith(":") ? "" : " ";
  }
  return lines.join("\r\n");
}

/** Appends a base64 value, continuing on folded lines (WSP in b= is ignored, RFC 6376 §3.5). */
function appendFolded(field: string, value: string): string {
  let out = field;
  let lineLength = field.length - field.lastIndexOf("\n") - 1;
  let rest = value;
  while (rest.length > 0) {
    let room = MAX_LINE - lineLength;
    if (room <= 0) {
      out += "\r\n ";
      lineLength = 1;
      room = MAX_LINE - 1;
    }
    out += rest.slice(0, room);
    lineLength += Math.min(room, rest.length);
    rest = rest.slice(room);
  }
  return out;
}
