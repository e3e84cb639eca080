/**
 * A user's key material, sealed for storage: an RSA-OAEP key pair whose private half is wrapped
 * under the user's password (and optionally a printed recovery key), plus a symmetric "mailbox
 * key" that is itself RSA-wrapped. The store keeps the serialised form as opaque bytes; only a
 * login with the right password (or recovery key) turns it back into usable keys.
 *
 * Derivation: one PBKDF2-SHA256 run gives a 32-byte master secret; HKDF-SHA256 splits it into a
 * key-encryption key and a password verifier, so a login costs exactly one slow KDF.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import {
  asBytes,
  type Bytes,
  fromBase64,
  fromCrockfordBase32,
  randomBytes,
  toBase64,
  toCrockfordBase32,
  utf8,
} from "./bytes.ts";
import { CryptoError } from "./crypto_error.ts";
import { NativeGcm } from "./native_gcm.ts";
import { NativeRsaKey } from "./native_rsa.ts";

/** A user's keys after a successful unlock. Neither key can be exported. */
export interface UnlockedUserKeys {
  /** RSA-OAEP-2048 private key: opens content keys of newly delivered messages. */
  privateKey: CryptoKey;
  /** AES-256-GCM key: wraps content keys after their first read, so RSA is paid once. */
  mailboxKey: CryptoKey;
  /** The same private key in libcrypto, ~7× faster, where it can be loaded (native_rsa.ts). */
  nativeKey?: NativeRsaKey;
  /** The mailbox key in libcrypto, for opening content keys (native_gcm.ts), where it loads. */
  nativeMailboxKey?: NativeGcm;
  /** The mailbox key in libcrypto, for wrapping content keys under it, where it loads. */
  nativeMailboxSealer?: NativeGcm;
  /**
   * Names the mailbox key (see {@link mailboxKeyIdOf}): delivery wraps a content key under an
   * unlocked mailbox key only when this matches the stored key material of the recipient.
   */
  mailboxKeyId?: string;
}

/** Options for creating or re-wrapping key material. */
export interface UserKeysOptions {
  /**
   * PBKDF2 iterations. Defaults to {@link DEFAULT_PBKDF2_ITERATIONS}; lower values exist for
   * tests and are refused below {@link MIN_PBKDF2_ITERATIONS}.
   */
  iterations?: number;
}

/** Options for {@link createUserKeys}. */
export interface CreateUserKeysOptions extends UserKeysOptions {
  /** Also create a printed recovery key that can reset a forgotten password. */
  recovery?: boolean;
}

/** Result of {@link createUserKeys}. */
export interface CreatedUserKeys {
  /** Serialised key material for `UserRecord.keys`. */
  keys: Uint8Array;
  /** Shown to the user once (`XXXX-XXXX-…`); never stored anywhere by the server. */
  recoveryKey?: string;
}

/** OWASP's 2023 figure for PBKDF2-HMAC-SHA256 (~150 ms on a current core). */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;
/** Floor for `iterations`: low enough for fast tests, high enough to catch a unit mix-up. */
export const MIN_PBKDF2_ITERATIONS = 1_000;
// Ceiling on what a stored record may ask for, so a corrupt or hostile record cannot pin a core.
const MAX_PBKDF2_ITERATIONS = 10_000_000;

const FORMAT = "fsmtp-user-keys";
const VERSION = 1;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const SECRET_BYTES = 32;
// 160 bits: comfortably past the 128-bit floor and exactly 32 base32 characters (8 groups of 4).
const RECOVERY_BYTES = 20;
const RSA_MODULUS_BYTES = 256;

// Distinct HKDF infos, GCM associated data and OAEP labels keep every derived key and every
// ciphertext bound to one purpose, so none can be replayed in another role.
const INFO_PASSWORD_KEK = utf8("fsmtp/user-keys/v1/password-kek");
const INFO_VERIFIER = utf8("fsmtp/user-keys/v1/password-verifier");
const INFO_RECOVERY_KEK = utf8("fsmtp/user-keys/v1/recovery-kek");
const AAD_PASSWORD_WRAP = utf8("fsmtp/user-keys/v1/private-key/password");
const AAD_RECOVERY_WRAP = utf8("fsmtp/user-keys/v1/private-key/recovery");
const MAILBOX_KEY_LABEL = utf8("fsmtp/user-keys/v1/mailbox-key");

const RSA_PARAMS: RsaHashedKeyGenParams = {
  name: "RSA-OAEP",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
};
const RSA_IMPORT: RsaHashedImportParams = { name: "RSA-OAEP", hash: "SHA-256" };

/** The private key under one wrapping key: AES-256-GCM of the PKCS#8 DER. */
interface Wrap {
  iv: Bytes;
  ct: Bytes;
}

/** The parsed key material; the JSON form has every byte field in base64. */
interface UserKeysRecord {
  iterations: number;
  salt: Bytes;
  verifier: Bytes;
  publicKey: Bytes;
  privateKey: Wrap;
  recovery?: { salt: Bytes; privateKey: Wrap };
  /** The mailbox key, RSA-OAEP-encrypted with `publicKey`. */
  mailboxKey: Bytes;
}

/**
 * Creates key material for a new user: an RSA-OAEP-2048 (SHA-256) key pair, a random AES-256
 * mailbox key wrapped with the public key, and the private key wrapped under `password` (and,
 * with `recovery: true`, under a fresh recovery key that is returned once).
 */
export async function createUserKeys(
  password: string,
  opts: CreateUserKeysOptions = {},
): Promise<CreatedUserKeys> {
  const iterations = checkIterations(opts.iterations ?? DEFAULT_PBKDF2_ITERATIONS);
  const pair = await crypto.subtle.generateKey(RSA_PARAMS, true, ["encrypt", "decrypt"]);
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  try {
    // The server only ever needs the mailbox key after an unlock, so it exists at rest only
    // RSA-wrapped; the raw bytes are dropped right here.
    const mailboxRaw = randomBytes(32);
    const mailboxKey = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "RSA-OAEP", label: MAILBOX_KEY_LABEL },
        pair.publicKey,
        mailboxRaw,
      ),
    );
    mailboxRaw.fill(0);

    let recoveryKey: string | undefined;
    let recovery: UserKeysRecord["recovery"];
    if (opts.recovery) {
      const secret = randomBytes(RECOVERY_BYTES);
      recoveryKey = formatRecoveryKey(secret);
      const salt = randomBytes(SALT_BYTES);
      recovery = { salt, privateKey: await wrap(await recoveryKek(secret, salt), pkcs8, true) };
      secret.fill(0);
    }

    const record: UserKeysRecord = {
      ...(await passwordSection(password, iterations, pkcs8)),
      publicKey,
      recovery,
      mailboxKey,
    };
    return { keys: serialise(record), recoveryKey };
  } finally {
    pkcs8.fill(0);
  }
}

/** Imports the user's RSA-OAEP public key, the only thing delivery needs. Throws if corrupt. */
export async function publicKeyOf(keys: Uint8Array): Promise<CryptoKey> {
  return await importPublicKey(parse(keys).publicKey);
}

/**
 * Names the mailbox key of stored key material: a digest of its RSA-wrapped form, which a
 * password change or a recovery reset keeps and a re-created user never shares. Public: it
 * reveals nothing the stored record does not. Throws {@link CryptoError} when `keys` is corrupt.
 */
export function mailboxKeyIdOf(keys: Uint8Array): string {
  return mailboxKeyIdFrom(parse(keys));
}

function mailboxKeyIdFrom(record: UserKeysRecord): string {
  return createHash("sha256").update(record.publicKey).update(record.mailboxKey).digest("base64");
}

/**
 * Unlocks the user's keys with their password. Resolves to undefined for a wrong password
 * (never throws for one); throws {@link CryptoError} when `keys` is corrupt.
 */
export async function unlockUserKeys(
  keys: Uint8Array,
  password: string,
): Promise<UnlockedUserKeys | undefined> {
  const record = parse(keys);
  const pkcs8 = await openWithPassword(record, password);
  if (!pkcs8) return undefined;
  try {
    return await finishUnlock(record, pkcs8);
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Unlocks the user's keys with their printed recovery key (any case, dashes optional).
 * Resolves to undefined for a wrong recovery key or when the user has none.
 */
export async function unlockWithRecoveryKey(
  keys: Uint8Array,
  recoveryKey: string,
): Promise<UnlockedUserKeys | undefined> {
  const record = parse(keys);
  const pkcs8 = await openWithRecovery(record, recoveryKey);
  if (!pkcs8) return undefined;
  try {
    return await finishUnlock(record, pkcs8);
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Re-wraps the private key under `newPassword` (fresh salt, `iterations` as given or the
 * default). No message is re-encrypted: the key pair, the mailbox key and any recovery wrap are
 * kept. Resolves to the new key material, or undefined when `oldPassword` is wrong.
 */
export async function changePassword(
  keys: Uint8Array,
  oldPassword: string,
  newPassword: string,
  opts: UserKeysOptions = {},
): Promise<Uint8Array | undefined> {
  const record = parse(keys);
  const pkcs8 = await openWithPassword(record, oldPassword);
  if (!pkcs8) return undefined;
  return await rewrap(record, pkcs8, newPassword, opts);
}

/**
 * Sets a new password for a user who forgot theirs, proving ownership with the recovery key.
 * Like {@link changePassword} it keeps everything else, including the recovery wrap, so the same
 * recovery key keeps working. Resolves to undefined for a wrong recovery key.
 */
export async function resetPasswordWithRecovery(
  keys: Uint8Array,
  recoveryKey: string,
  newPassword: string,
  opts: UserKeysOptions = {},
): Promise<Uint8Array | undefined> {
  const record = parse(keys);
  const pkcs8 = await openWithRecovery(record, recoveryKey);
  if (!pkcs8) return undefined;
  return await rewrap(record, pkcs8, newPassword, opts);
}

/**
 * Does the same slow work as a password check against throw-away values and discards it. A
 * login for an unknown address calls this so its timing does not reveal that the address is
 * unknown.
 */
export async function spendUnlockWork(
  password: string,
  iterations: number = DEFAULT_PBKDF2_ITERATIONS,
): Promise<void> {
  const { verifier } = await deriveFromPassword(
    password,
    randomBytes(SALT_BYTES),
    checkIterations(iterations),
  );
  timingSafeEqual(verifier, randomBytes(SECRET_BYTES));
}

// ---------------------------------------------------------------------------------------------

/** Re-wraps the decrypted PKCS#8 under a new password; zeroes it afterwards. */
async function rewrap(
  record: UserKeysRecord,
  pkcs8: Bytes,
  newPassword: string,
  opts: UserKeysOptions,
): Promise<Uint8Array> {
  try {
    const iterations = checkIterations(opts.iterations ?? DEFAULT_PBKDF2_ITERATIONS);
    return serialise({ ...record, ...(await passwordSection(newPassword, iterations, pkcs8)) });
  } finally {
    pkcs8.fill(0);
  }
}

/** Salt, verifier and private-key wrap for a password. */
async function passwordSection(
  password: string,
  iterations: number,
  pkcs8: Bytes,
): Promise<Pick<UserKeysRecord, "iterations" | "salt" | "verifier" | "privateKey">> {
  const salt = randomBytes(SALT_BYTES);
  const { kek, verifier } = await deriveFromPassword(password, salt, iterations);
  return { iterations, salt, verifier, privateKey: await wrap(kek, pkcs8, false) };
}

/** The PKCS#8 private key if `password` is right, otherwise undefined. */
async function openWithPassword(
  record: UserKeysRecord,
  password: string,
): Promise<Bytes | undefined> {
  const { kek, verifier } = await deriveFromPassword(password, record.salt, record.iterations);
  // Constant-time so response timing cannot be used to guess the verifier byte by byte.
  if (!timingSafeEqual(verifier, record.verifier)) return undefined;
  const pkcs8 = await unwrap(kek, record.privateKey, false);
  // The verifier matched, so the password is right: a wrap that does not open is damage.
  if (!pkcs8) throw new CryptoError("private key wrap fails authentication", "corrupt");
  return pkcs8;
}

/** The PKCS#8 private key if `recoveryKey` is right, otherwise undefined. */
async function openWithRecovery(
  record: UserKeysRecord,
  recoveryKey: string,
): Promise<Bytes | undefined> {
  if (!record.recovery) return undefined;
  const secret = parseRecoveryKey(recoveryKey);
  if (!secret) return undefined;
  try {
    // The GCM tag is the recovery verifier: with a 160-bit random secret there is no password
    // to guess offline, so a separate verifier would add nothing.
    return await unwrap(
      await recoveryKek(secret, record.recovery.salt),
      record.recovery.privateKey,
      true,
    );
  } finally {
    secret.fill(0);
  }
}

/** Imports the private key (non-extractable) and opens the mailbox key with it. */
async function finishUnlock(record: UserKeysRecord, pkcs8: Bytes): Promise<UnlockedUserKeys> {
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, RSA_IMPORT, false, ["decrypt"]);
  } catch (cause) {
    throw new CryptoError("private key does not import", "corrupt", { cause });
  }
  let mailboxRaw: Bytes;
  try {
    mailboxRaw = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "RSA-OAEP", label: MAILBOX_KEY_LABEL },
        privateKey,
        record.mailboxKey,
      ),
    );
  } catch (cause) {
    throw new CryptoError("mailbox key does not open", "corrupt", { cause });
  }
  try {
    if (mailboxRaw.length !== 32) throw new CryptoError("mailbox key has wrong size", "corrupt");
    const mailboxKey = await crypto.subtle.importKey("raw", mailboxRaw, "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    return {
      privateKey,
      mailboxKey,
      nativeKey: NativeRsaKey.fromPkcs8(pkcs8),
      nativeMailboxKey: NativeGcm.create(mailboxRaw),
      nativeMailboxSealer: NativeGcm.create(mailboxRaw, "seal"),
      mailboxKeyId: mailboxKeyIdFrom(record),
    };
  } finally {
    mailboxRaw.fill(0);
  }
}

/** PBKDF2 once, then HKDF for the key-encryption key and the verifier. */
async function deriveFromPassword(
  password: string,
  salt: Bytes,
  iterations: number,
): Promise<{ kek: CryptoKey; verifier: Bytes }> {
  // NFC so the same password typed on two systems (composed vs decomposed accents) matches,
  // as RFC 8265's OpaqueString profile does.
  const pw = await crypto.subtle.importKey(
    "raw",
    utf8(password.normalize("NFC")),
    "PBKDF2",
    false,
    [
      "deriveBits",
    ],
  );
  const master = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations },
      pw,
      SECRET_BYTES * 8,
    ),
  );
  try {
    const hkdf = await crypto.subtle.importKey("raw", master, "HKDF", false, [
      "deriveBits",
      "deriveKey",
    ]);
    const kek = await deriveAesKey(hkdf, INFO_PASSWORD_KEK);
    const verifier = new Uint8Array(
      await crypto.subtle.deriveBits(hkdfParams(INFO_VERIFIER), hkdf, SECRET_BYTES * 8),
    );
    return { kek, verifier };
  } finally {
    master.fill(0);
  }
}

/** The key that wraps the private key under a recovery secret. */
async function recoveryKek(secret: Bytes, salt: Bytes): Promise<CryptoKey> {
  // HKDF rather than PBKDF2: the secret is already 160 random bits, stretching adds nothing.
  const hkdf = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveKey"]);
  return await deriveAesKey(hkdf, INFO_RECOVERY_KEK, salt);
}

async function deriveAesKey(hkdf: CryptoKey, info: Bytes, salt?: Bytes): Promise<CryptoKey> {
  return await crypto.subtle.deriveKey(
    hkdfParams(info, salt),
    hkdf,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

function hkdfParams(info: Bytes, salt: Bytes = new Uint8Array()): HkdfParams {
  // An empty salt is fine for the password path: the PBKDF2 output is already salted and uniform.
  return { name: "HKDF", hash: "SHA-256", salt, info };
}

async function wrap(kek: CryptoKey, pkcs8: Bytes, recovery: boolean): Promise<Wrap> {
  const iv = randomBytes(IV_BYTES);
  const additionalData = recovery ? AAD_RECOVERY_WRAP : AAD_PASSWORD_WRAP;
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData }, kek, pkcs8),
  );
  return { iv, ct };
}

/** The PKCS#8 bytes, or undefined when the GCM tag does not verify. */
async function unwrap(kek: CryptoKey, w: Wrap, recovery: boolean): Promise<Bytes | undefined> {
  const additionalData = recovery ? AAD_RECOVERY_WRAP : AAD_PASSWORD_WRAP;
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv: w.iv, additionalData }, kek, w.ct),
    );
  } catch {
    return undefined;
  }
}

async function importPublicKey(spki: Bytes): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey("spki", spki, RSA_IMPORT, true, ["encrypt"]);
  } catch (cause) {
    throw new CryptoError("public key does not import", "corrupt", { cause });
  }
}

function checkIterations(iterations: number): number {
  if (
    !Number.isSafeInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS ||
    iterations > MAX_PBKDF2_ITERATIONS
  ) {
    throw new RangeError(
      `PBKDF2 iterations must be an integer from ${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS}`,
    );
  }
  return iterations;
}

/** `XXXX-XXXX-…`: Crockford base32 in groups of four, easy to copy from paper. */
function formatRecoveryKey(secret: Bytes): string {
  return toCrockfordBase32(secret).match(/.{1,4}/g)!.join("-");
}

function parseRecoveryKey(text: string): Bytes | undefined {
  const secret = fromCrockfordBase32(text);
  // A typo that changes the length is just a wrong key, not an error.
  return secret?.length === RECOVERY_BYTES ? secret : undefined;
}

// --- serialisation ---------------------------------------------------------------------------
// JSON with base64 fields: readable in a hex dump when debugging, and versioned so a later
// format (say scrypt, or another key type) can be read side by side with this one.

interface WrapJson {
  iv: string;
  ct: string;
}

interface UserKeysJson {
  format: typeof FORMAT;
  version: typeof VERSION;
  kdf: { name: "PBKDF2-SHA256"; iterations: number; salt: string };
  verifier: string;
  publicKey: string;
  privateKey: WrapJson;
  recovery?: { salt: string; privateKey: WrapJson };
  mailboxKey: string;
}

function serialise(r: UserKeysRecord): Uint8Array {
  const wrapJson = (w: Wrap): WrapJson => ({ iv: toBase64(w.iv), ct: toBase64(w.ct) });
  const json: UserKeysJson = {
    format: FORMAT,
    version: VERSION,
    kdf: { name: "PBKDF2-SHA256", iterations: r.iterations, salt: toBase64(r.salt) },
    verifier: toBase64(r.verifier),
    publicKey: toBase64(r.publicKey),
    privateKey: wrapJson(r.privateKey),
    recovery: r.recovery &&
      { salt: toBase64(r.recovery.salt), privateKey: wrapJson(r.recovery.privateKey) },
    mailboxKey: toBase64(r.mailboxKey),
  };
  return utf8(JSON.stringify(json));
}

/** Parses and validates serialised key material; throws {@link CryptoError} on anything off. */
function parse(keys: Uint8Array): UserKeysRecord {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(asBytes(keys)));
  } catch (cause) {
    throw new CryptoError("user keys are not valid JSON", "corrupt", { cause });
  }
  const root = object(json, "user keys");
  if (root.format !== FORMAT) throw new CryptoError("not fsmtp user keys", "corrupt");
  if (root.version !== VERSION) {
    throw new CryptoError(`user keys format version ${String(root.version)}`, "unsupported");
  }
  const kdf = object(root.kdf, "kdf");
  if (kdf.name !== "PBKDF2-SHA256") throw new CryptoError("unknown kdf", "unsupported");
  const iterations = kdf.iterations;
  if (
    typeof iterations !== "number" || !Number.isSafeInteger(iterations) ||
    iterations < MIN_PBKDF2_ITERATIONS || iterations > MAX_PBKDF2_ITERATIONS
  ) {
    throw new CryptoError("kdf iterations out of range", "corrupt");
  }
  const recovery = root.recovery === undefined ? undefined : object(root.recovery, "recovery");
  return {
    iterations,
    salt: bytes(kdf.salt, "kdf.salt", SALT_BYTES),
    verifier: bytes(root.verifier, "verifier", SECRET_BYTES),
    publicKey: bytes(root.publicKey, "publicKey"),
    privateKey: wrapField(root.privateKey, "privateKey"),
    recovery: recovery && {
      salt: bytes(recovery.salt, "recovery.salt", SALT_BYTES),
      privateKey: wrapField(recovery.privateKey, "recovery.privateKey"),
    },
    mailboxKey: bytes(root.mailboxKey, "mailboxKey", RSA_MODULUS_BYTES),
  };
}

function object(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CryptoError(`${name} is not an object`, "corrupt");
  }
  return value as Record<string, unknown>;
}

function bytes(value: unknown, name: string, length?: number): Bytes {
  let out: Bytes;
  try {
    if (typeof value !== "string") throw new TypeError("not a string");
    out = fromBase64(value);
  } catch (cause) {
    throw new CryptoError(`${name} is not base64`, "corrupt", { cause });
  }
  if (length !== undefined && out.length !== length) {
    throw new CryptoError(`${name} has ${out.length} bytes, expected ${length}`, "corrupt");
  }
  return out;
}

function wrapField(value: unknown, name: string): Wrap {
  const w = object(value, name);
  return { iv: bytes(w.iv, `${name}.iv`, IV_BYTES), ct: bytes(w.ct, `${name}.ct`) };
}
