/**
 * Sealing a message at delivery and opening it at read time.
 *
 * Each message gets a fresh AES-256-GCM content key. At delivery the server holds no secret, so
 * the content key is RSA-OAEP-wrapped for every recipient ("rsa"). RSA decryption is the slow
 * step, so the first read re-wraps the content key under the user's symmetric mailbox key
 * ("sym") and every later read uses that.
 */

import { createCipheriv, createDecipheriv, KeyObject } from "node:crypto";
import { asBytes, type Bytes, concatBytes, randomBytes, utf8 } from "./bytes.ts";
import { CryptoError } from "./crypto_error.ts";
import { NativeGcm } from "./native_gcm.ts";
import { rsaOaepEncrypt } from "./native_rsa_encrypt.ts";
import { rsaPool } from "./rsa_pool.ts";
import type { UnlockedUserKeys } from "./user_keys.ts";

/** How a message's content key is wrapped: for the user's RSA key, or their mailbox key. */
export type KeyWrap = "rsa" | "sym";

/** Result of {@link sealMessage}. */
export interface SealedForMany {
  /** `iv || ciphertext || tag` of the message under its content key; shared by all recipients. */
  body: Uint8Array;
  /**
   * The content key wrapped for each recipient, in the order of the public keys given: under
   * the public key ("rsa"), or under the mailbox key where one was given ("sym").
   */
  wrappedKeys: Uint8Array[];
  /** How each of `wrappedKeys` is wrapped. */
  keyWraps: KeyWrap[];
  /** The summary sealed under the same content key, when one was given. */
  summary?: Uint8Array;
}

/** Result of {@link openMessage}. */
export interface OpenedMessage {
  clear: Uint8Array;
  /**
   * Present after an "rsa" open: the content key wrapped under the mailbox key. The caller
   * stores it with keyWrap "sym" so the RSA decryption happens at most once per message.
   */
  rewrapped?: Uint8Array;
}

/**
 * Counts RSA decryptions of content keys, so tests can prove that reading a message twice pays
 * for RSA once. Only ever incremented; nothing depends on it.
 */
export const sealStats = { rsaUnwraps: 0 };

const IV_BYTES = 12;
const TAG_BYTES = 16;
const CONTENT_KEY_BYTES = 32;
// Bind each ciphertext to its role, so e.g. a wrapped mailbox key cannot pass as a content key.
const CONTENT_KEY_LABEL = utf8("fsmtp/message/v1/content-key");
const BODY_AAD = utf8("fsmtp/message/v1/body");
const SYM_WRAP_AAD = utf8("fsmtp/message/v1/content-key/sym");
const SUMMARY_AAD = utf8("fsmtp/message/v1/summary");

/**
 * Seals `clear` for the given recipients: one body, one wrapped content key per recipient,
 * and the message's summary under the same content key. The key is RSA-wrapped with each
 * public key, except for a recipient whose unlocked keys `unlocked[i]` gives (logged in now):
 * theirs is wrapped under their mailbox key at once, as their first read would have re-wrapped
 * it, so that read costs no RSA. Either way it opens only with keys the password unlocks.
 */
export async function sealMessage(
  clear: Uint8Array,
  recipientPublicKeys: CryptoKey[],
  summary?: Uint8Array,
  unlocked: readonly (UnlockedUserKeys | undefined)[] = [],
): Promise<SealedForMany> {
  if (recipientPublicKeys.length === 0) throw new RangeError("a message needs a recipient");
  const raw = randomBytes(CONTENT_KEY_BYTES);
  try {
    const body = await gcmSealLarge(raw, clear, BODY_AAD);
    const keyWraps = recipientPublicKeys.map((_, i): KeyWrap => unlocked[i] ? "sym" : "rsa");
    const wrappedKeys = await Promise.all(
      recipientPublicKeys.map((publicKey, i) => {
        const user = unlocked[i];
        if (user) return symWrap(raw, user);
        return rsaOaepEncrypt(publicKey, raw, CONTENT_KEY_LABEL);
      }),
    );
    return {
      body,
      wrappedKeys,
      keyWraps,
      summary: summary && gcmSeal(raw, summary, SUMMARY_AAD),
    };
  } finally {
    raw.fill(0);
  }
}

/** Result of {@link sealForOwner}. */
export interface SealedForOwner {
  body: Uint8Array;
  /** The content key wrapped under the owner's mailbox key: store it with keyWrap "sym". */
  wrappedKey: Uint8Array;
  summary?: Uint8Array;
}

/**
 * Seals a message its logged-in owner stores (IMAP APPEND): the owner's mailbox key is at
 * hand, so the content key is wrapped under it at once and no read ever pays for RSA.
 */
export async function sealForOwner(
  clear: Uint8Array,
  user: UnlockedUserKeys,
  summary?: Uint8Array,
): Promise<SealedForOwner> {
  const raw = randomBytes(CONTENT_KEY_BYTES);
  try {
    const iv = randomBytes(IV_BYTES);
    const wrapped = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: SYM_WRAP_AAD },
      user.mailboxKey,
      raw,
    );
    return {
      body: await gcmSealLarge(raw, clear, BODY_AAD),
      wrappedKey: concatBytes(iv, new Uint8Array(wrapped)),
      summary: summary && gcmSeal(raw, summary, SUMMARY_AAD),
    };
  } finally {
    raw.fill(0);
  }
}

/** A message's content key, unwrapped for one read. Zero `raw` once done with it. */
export interface ContentKey {
  raw: Uint8Array;
  /**
   * Present after an "rsa" unwrap: the content key wrapped under the mailbox key. The caller
   * stores it with keyWrap "sym" so the RSA decryption happens at most once per message.
   */
  rewrapped?: Uint8Array;
}

/**
 * Unwraps a message's content key with the user's unlocked keys (RSA for "rsa", AES-GCM under
 * the mailbox key for "sym"). Throws {@link CryptoError} `tampered` when it does not open.
 */
export async function unwrapContentKey(
  wrappedKey: Uint8Array,
  keyWrap: KeyWrap,
  user: UnlockedUserKeys,
): Promise<ContentKey> {
  const raw = keyWrap === "rsa"
    ? await rsaUnwrap(asBytes(wrappedKey), user)
    : symUnwrap(asBytes(wrappedKey), user);
  if (raw.length !== CONTENT_KEY_BYTES) {
    raw.fill(0);
    throw new CryptoError("content key has wrong size", "tampered");
  }
  if (keyWrap === "sym") return { raw };
  return { raw, rewrapped: symWrap(raw, user) };
}

/**
 * Unwraps many RSA-wrapped content keys at once, each with its re-wrapped form (see
 * {@link ContentKey}): in batches on the RSA pool's worker threads where libcrypto runs
 * (rsa_pool.ts), several at a time on the thread pool otherwise. A key that does not open
 * gives a {@link CryptoError} in its place. Zero each `raw` once done with it.
 */
export async function unwrapRsaMany(
  wrapped: Uint8Array[],
  user: UnlockedUserKeys,
): Promise<(ContentKey | CryptoError)[]> {
  if (user.nativeKey && !rsaPool.broken) {
    let plaintexts: (Uint8Array | undefined)[] | undefined;
    try {
      plaintexts = await rsaPool.decryptMany(user.nativeKey, wrapped, CONTENT_KEY_LABEL);
    } catch {
      // The workers cannot run here: one by one below.
    }
    if (plaintexts) {
      sealStats.rsaUnwraps += wrapped.length;
      return plaintexts.map((raw) => {
        if (raw?.length !== CONTENT_KEY_BYTES) {
          raw?.fill(0);
          return new CryptoError("RSA-wrapped content key does not open", "tampered");
        }
        return { raw: asBytes(raw), rewrapped: symWrap(raw, user) };
      });
    }
  }
  return await Promise.all(
    wrapped.map((w) =>
      unwrapContentKey(w, "rsa", user).catch((cause) =>
        cause instanceof CryptoError
          ? cause
          : new CryptoError("RSA-wrapped content key does not open", "tampered", { cause })
      )
    ),
  );
}

/** `iv || ciphertext || tag` of a content key under the user's mailbox key. */
function symWrap(raw: Uint8Array, user: UnlockedUserKeys): Uint8Array {
  if (user.nativeMailboxSealer) return user.nativeMailboxSealer.seal(raw, SYM_WRAP_AAD);
  return gcmSeal(mailboxKeyObject(user.mailboxKey), raw, SYM_WRAP_AAD);
}

/** Opens a sealed body with its content key. Throws {@link CryptoError} `tampered`. */
export function openBody(key: ContentKey, body: Uint8Array): Uint8Array {
  return openSealed(key, body, BODY_AAD, "body");
}

/** Opens a sealed summary with its content key. Throws {@link CryptoError} `tampered`. */
export function openSummary(key: ContentKey, summary: Uint8Array): Uint8Array {
  return openSealed(key, summary, SUMMARY_AAD, "summary");
}

/** Seals a summary under a message's content key (for messages stored without one). */
export function sealSummary(key: ContentKey, summary: Uint8Array): Uint8Array {
  return gcmSeal(key.raw, summary, SUMMARY_AAD);
}

/**
 * Opens a sealed message with the user's unlocked keys. For "rsa" it also returns `rewrapped`
 * (see {@link OpenedMessage}). Throws {@link CryptoError} `tampered` when the body or the
 * wrapped key fails authentication (altered, truncated, or another user's key).
 */
export async function openMessage(
  body: Uint8Array,
  wrappedKey: Uint8Array,
  keyWrap: KeyWrap,
  user: UnlockedUserKeys,
): Promise<OpenedMessage> {
  const key = await unwrapContentKey(wrappedKey, keyWrap, user);
  try {
    return { clear: openBody(key, body), rewrapped: key.rewrapped };
  } finally {
    key.raw.fill(0);
  }
}

async function rsaUnwrap(wrapped: Bytes, user: UnlockedUserKeys): Promise<Bytes> {
  sealStats.rsaUnwraps++;
  try {
    if (user.nativeKey) {
      return asBytes(await user.nativeKey.decrypt(wrapped, CONTENT_KEY_LABEL));
    }
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "RSA-OAEP", label: CONTENT_KEY_LABEL },
        user.privateKey,
        wrapped,
      ),
    );
  } catch (cause) {
    throw new CryptoError("RSA-wrapped content key does not open", "tampered", { cause });
  }
}

// Opening is synchronous and in-process: WebCrypto's round trip to its thread pool cost more
// than the decryption itself for a typical message. libcrypto through FFI where it loads
// (native_gcm.ts, ~10× cheaper than node:crypto's Decipheriv for 4 KiB), node:crypto else.
// The format is the same either way: iv || ciphertext || tag.
function gcmOpen(key: KeyObject | Uint8Array, sealed: Bytes, aad: Uint8Array): Uint8Array {
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const head = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES));
  const tail = decipher.final(); // throws when the tag does not authenticate
  return tail.length === 0 ? new Uint8Array(head) : concatBytes(head, tail);
}

/** The shared libcrypto context for content keys (keyed per call); null where unavailable. */
let contentGcm: NativeGcm | null | undefined;

function nativeContentGcm(): NativeGcm | null {
  if (contentGcm === undefined) contentGcm = NativeGcm.create() ?? null;
  return contentGcm;
}

// The node:crypto handle of each unlocked mailbox key, made once per key.
const mailboxKeyObjects = new WeakMap<CryptoKey, KeyObject>();

function mailboxKeyObject(mailboxKey: CryptoKey): KeyObject {
  let key = mailboxKeyObjects.get(mailboxKey);
  if (!key) {
    key = KeyObject.from(mailboxKey);
    mailboxKeyObjects.set(mailboxKey, key);
  }
  return key;
}

function symUnwrap(wrapped: Bytes, user: UnlockedUserKeys): Bytes {
  if (wrapped.length !== IV_BYTES + CONTENT_KEY_BYTES + TAG_BYTES) {
    throw new CryptoError("sym-wrapped content key has wrong size", "tampered");
  }
  if (user.nativeMailboxKey) {
    const raw = user.nativeMailboxKey.open(wrapped, SYM_WRAP_AAD);
    if (!raw) throw new CryptoError("sym-wrapped content key fails authentication", "tampered");
    return asBytes(raw);
  }
  try {
    return asBytes(gcmOpen(mailboxKeyObject(user.mailboxKey), wrapped, SYM_WRAP_AAD));
  } catch (cause) {
    throw new CryptoError("sym-wrapped content key fails authentication", "tampered", { cause });
  }
}

function openSealed(key: ContentKey, sealed: Uint8Array, aad: Uint8Array, what: string) {
  if (sealed.length < IV_BYTES + TAG_BYTES) {
    throw new CryptoError(`sealed ${what} is truncated`, "tampered");
  }
  const native = nativeContentGcm();
  if (native) {
    const clear = native.open(sealed, aad, key.raw);
    if (!clear) throw new CryptoError(`sealed ${what} fails authentication`, "tampered");
    return clear;
  }
  try {
    return gcmOpen(key.raw, asBytes(sealed), aad);
  } catch (cause) {
    throw new CryptoError(`sealed ${what} fails authentication`, "tampered", { cause });
  }
}

function gcmSeal(raw: KeyObject | Uint8Array, clear: Uint8Array, aad: Uint8Array): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", raw, iv);
  cipher.setAAD(aad);
  const head = cipher.update(clear);
  const tail = cipher.final();
  return concatBytes(iv, head, tail, cipher.getAuthTag());
}

/** Octets sealed between two turns of the event loop: other sessions run in between. */
const SEAL_SLICE = 4 * 1024 * 1024;

/**
 * `iv || ciphertext || tag` of `clear`, written straight into one buffer of the final size: a
 * large message makes one sealed copy, not two (the process-wide octet budget counts it), and
 * the event loop gets a turn every few MiB.
 */
async function gcmSealLarge(raw: Uint8Array, clear: Uint8Array, aad: Uint8Array) {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", raw, iv);
  cipher.setAAD(aad);
  const out = new Uint8Array(IV_BYTES + clear.length + TAG_BYTES);
  out.set(iv);
  let at = IV_BYTES;
  for (let from = 0; from < clear.length; from += SEAL_SLICE) {
    if (from > 0) await new Promise((resolve) => setTimeout(resolve, 0));
    const part = cipher.update(clear.subarray(from, from + SEAL_SLICE));
    out.set(part, at);
    at += part.length;
  }
  const tail = cipher.final();
  out.set(tail, at);
  out.set(cipher.getAuthTag(), at + tail.length);
  return out;
}
