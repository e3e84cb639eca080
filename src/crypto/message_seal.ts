/**
 * Sealing a message at delivery and opening it at read time.
 *
 * Each message gets a fresh AES-256-GCM content key. At delivery the server holds no secret, so
 * the content key is RSA-OAEP-wrapped for every recipient ("rsa"). RSA decryption is the slow
 * step, so the first read re-wraps the content key under the user's symmetric mailbox key
 * ("sym") and every later read uses that.
 */

import { createDecipheriv, KeyObject } from "node:crypto";
import { asBytes, type Bytes, concatBytes, randomBytes, utf8 } from "./bytes.ts";
import { CryptoError } from "./crypto_error.ts";
import type { UnlockedUserKeys } from "./user_keys.ts";
import type { KeyWrap } from "../store/mail_store.ts";

/** Result of {@link sealMessage}. */
export interface SealedForMany {
  /** `iv || ciphertext || tag` of the message under its content key; shared by all recipients. */
  body: Uint8Array;
  /** The content key RSA-wrapped for each recipient, in the order of the public keys given. */
  wrappedKeys: Uint8Array[];
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

/**
 * Seals `clear` for the given recipients: one body, one RSA-wrapped content key per recipient
 * (store them with keyWrap "rsa").
 */
export async function sealMessage(
  clear: Uint8Array,
  recipientPublicKeys: CryptoKey[],
): Promise<SealedForMany> {
  if (recipientPublicKeys.length === 0) throw new RangeError("a message needs a recipient");
  const raw = randomBytes(CONTENT_KEY_BYTES);
  try {
    const key = await importContentKey(raw);
    const iv = randomBytes(IV_BYTES);
    const ct = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: BODY_AAD },
      key,
      asBytes(clear),
    );
    const wrappedKeys = await Promise.all(
      recipientPublicKeys.map(async (publicKey) =>
        new Uint8Array(
          await crypto.subtle.encrypt(
            { name: "RSA-OAEP", label: CONTENT_KEY_LABEL },
            publicKey,
            raw,
          ),
        )
      ),
    );
    return { body: concatBytes(iv, new Uint8Array(ct)), wrappedKeys };
  } finally {
    raw.fill(0);
  }
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
  const raw = keyWrap === "rsa"
    ? await rsaUnwrap(asBytes(wrappedKey), user.privateKey)
    : await symUnwrap(asBytes(wrappedKey), user.mailboxKey);
  try {
    if (raw.length !== CONTENT_KEY_BYTES) {
      throw new CryptoError("content key has wrong size", "tampered");
    }
    const clear = decryptBody(asBytes(body), raw);
    if (keyWrap === "sym") return { clear };
    const iv = randomBytes(IV_BYTES);
    const ct = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: SYM_WRAP_AAD },
      user.mailboxKey,
      raw,
    );
    return { clear, rewrapped: concatBytes(iv, new Uint8Array(ct)) };
  } finally {
    raw.fill(0);
  }
}

async function rsaUnwrap(wrapped: Bytes, privateKey: CryptoKey): Promise<Bytes> {
  sealStats.rsaUnwraps++;
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "RSA-OAEP", label: CONTENT_KEY_LABEL },
        privateKey,
        wrapped,
      ),
    );
  } catch (cause) {
    throw new CryptoError("RSA-wrapped content key does not open", "tampered", { cause });
  }
}

// Opening uses node:crypto's AES-256-GCM, synchronous and in-process: WebCrypto's round trip
// to its thread pool cost more than the decryption itself for a typical message (re-reads of a
// mailbox are dominated by it). The format is the same: iv || ciphertext || tag.
function gcmOpen(key: KeyObject | Uint8Array, sealed: Bytes, aad: Uint8Array): Uint8Array {
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const head = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES));
  const tail = decipher.final(); // throws when the tag does not authenticate
  return tail.length === 0 ? new Uint8Array(head) : concatBytes(head, tail);
}

// The node:crypto handle of each unlocked mailbox key, made once per key.
const mailboxKeyObjects = new WeakMap<CryptoKey, KeyObject>();

function symUnwrap(wrapped: Bytes, mailboxKey: CryptoKey): Promise<Bytes> {
  if (wrapped.length !== IV_BYTES + CONTENT_KEY_BYTES + TAG_BYTES) {
    throw new CryptoError("sym-wrapped content key has wrong size", "tampered");
  }
  let key = mailboxKeyObjects.get(mailboxKey);
  if (!key) {
    key = KeyObject.from(mailboxKey);
    mailboxKeyObjects.set(mailboxKey, key);
  }
  try {
    return Promise.resolve(asBytes(gcmOpen(key, wrapped, SYM_WRAP_AAD)));
  } catch (cause) {
    throw new CryptoError("sym-wrapped content key fails authentication", "tampered", { cause });
  }
}

function decryptBody(body: Bytes, raw: Bytes): Uint8Array {
  if (body.length < IV_BYTES + TAG_BYTES) {
    throw new CryptoError("sealed body is truncated", "tampered");
  }
  try {
    return gcmOpen(raw, body, BODY_AAD);
  } catch (cause) {
    throw new CryptoError("sealed body fails authentication", "tampered", { cause });
  }
}

function importContentKey(raw: Bytes): Promise<CryptoKey> {
  // Non-extractable: the raw bytes exist only inside seal/open and are zeroed there.
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}
