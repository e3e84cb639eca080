/**
 * AES-256-GCM through OpenSSL's libcrypto (libcrypto.ts; synchronous calls on the calling
 * thread). Every read of a message opens two GCM ciphertexts (its content key under the
 * mailbox key, then the body); node:crypto's Decipheriv builds a stream object for each, which
 * cost ~30 µs a 4 KiB message here, several times the decryption itself, and was the largest
 * item of a repeat POP3 download's profile. Here it is a handful of FFI calls.
 *
 * The format is the one message_seal.ts writes: `iv (12) || ciphertext || tag (16)`.
 * Optional like native_rsa.ts: where libcrypto cannot be loaded this gives nothing and callers
 * use node:crypto, which opens the same ciphertexts.
 */
import { freeOnCollect, type Libcrypto, libcrypto } from "./libcrypto.ts";

const EVP_CTRL_GCM_GET_TAG = 0x10;
const EVP_CTRL_GCM_SET_TAG = 0x11;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Larger inputs go through in slices: EVP_DecryptUpdate takes an int length. */
const SLICE = 1 << 30;

/**
 * The out-length cell of every call: the calls are synchronous on this thread, so none overlap,
 * and no call allocates one.
 */
const outLength = new Int32Array(1);

/**
 * An AES-256-GCM context, for opening (the default) or for sealing. With a key given at
 * creation (a user's mailbox key) the key lives inside libcrypto and each call sets only the
 * IV; without one each call sets both.
 */
export class NativeGcm {
  readonly #lib: Libcrypto;
  readonly #ctx: Deno.PointerObject;
  readonly #keyed: boolean;
  readonly #sealing: boolean;

  private constructor(lib: Libcrypto, ctx: Deno.PointerObject, keyed: boolean, sealing: boolean) {
    this.#lib = lib;
    this.#ctx = ctx;
    this.#keyed = keyed;
    this.#sealing = sealing;
    // The context is freed (and its key schedule cleansed by OpenSSL) with this object.
    freeOnCollect(this, { cipherCtx: ctx });
  }

  /**
   * A context, keyed with `key` (32 octets, copied into libcrypto: the caller zeroes its own)
   * or unkeyed; undefined when libcrypto is not available.
   */
  static create(key?: Uint8Array, use: "open" | "seal" = "open"): NativeGcm | undefined {
    const l = libcrypto();
    if (!l) return undefined;
    if (key && key.length !== KEY_BYTES) throw new RangeError("AES-256 needs a 32-octet key");
    const ctx = l.EVP_CIPHER_CTX_new();
    if (!ctx) return undefined;
    const sealing = use === "seal";
    const gcm = new NativeGcm(l, ctx, key !== undefined, sealing);
    const init = sealing ? l.EVP_EncryptInit_ex : l.EVP_DecryptInit_ex;
    if (init(ctx, l.EVP_aes_256_gcm(), null, key ?? null, null) !== 1) return undefined;
    return gcm;
  }

  /**
   * `iv || ciphertext || tag` of `clear` with associated data `aad`, under a fresh random IV
   * and the context's key (a sealing context with its key).
   */
  seal(clear: Uint8Array, aad: Uint8Array): Uint8Array {
    if (!this.#sealing || !this.#keyed) throw new Error("not a keyed sealing context");
    if (clear.length > SLICE) throw new RangeError("too large to seal in one call");
    const l = this.#lib;
    const ctx = this.#ctx;
    const out = new Uint8Array(IV_BYTES + clear.length + TAG_BYTES);
    const iv = out.subarray(0, IV_BYTES);
    crypto.getRandomValues(iv);
    const fail = () => {
      out.fill(0);
      return new Error("AES-GCM sealing failed");
    };
    if (l.EVP_EncryptInit_ex(ctx, null, null, null, iv) !== 1) throw fail();
    if (aad.length > 0 && l.EVP_EncryptUpdate(ctx, null, outLength, aad, aad.length) !== 1) {
      throw fail();
    }
    const body = out.subarray(IV_BYTES);
    if (l.EVP_EncryptUpdate(ctx, body, outLength, clear, clear.length) !== 1) throw fail();
    let at = IV_BYTES + outLength[0];
    if (l.EVP_EncryptFinal_ex(ctx, out.subarray(at), outLength) !== 1) throw fail();
    at += outLength[0];
    if (l.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out.subarray(at)) !== 1) {
      throw fail();
    }
    return out;
  }

  /**
   * Opens `iv || ciphertext || tag` with associated data `aad`, under the context's key or
   * `key`; undefined when it does not authenticate (or is too short to be one).
   */
  open(sealed: Uint8Array, aad: Uint8Array, key?: Uint8Array): Uint8Array | undefined {
    if (sealed.length < IV_BYTES + TAG_BYTES) return undefined;
    if (this.#sealing) throw new Error("a sealing context does not open");
    if (this.#keyed === (key !== undefined)) {
      throw new Error(this.#keyed ? "this context has its key" : "a key is needed");
    }
    const l = this.#lib;
    const ctx = this.#ctx;
    const iv = sealed.subarray(0, IV_BYTES);
    const end = sealed.length - TAG_BYTES;
    // The tag is handed over as a copy: OpenSSL writes nothing back, but the view must be
    // a plain buffer of its own for the call.
    const tag = sealed.slice(end);
    const out = new Uint8Array(end - IV_BYTES);
    if (l.EVP_DecryptInit_ex(ctx, null, null, key ?? null, iv) !== 1) return undefined;
    if (aad.length > 0 && l.EVP_DecryptUpdate(ctx, null, outLength, aad, aad.length) !== 1) {
      return undefined;
    }
    let at = 0;
    for (let from = IV_BYTES; from < end; from += SLICE) {
      const part = sealed.subarray(from, Math.min(end, from + SLICE));
      if (l.EVP_DecryptUpdate(ctx, out.subarray(at), outLength, part, part.length) !== 1) {
        return undefined;
      }
      at += outLength[0];
    }
    if (l.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) !== 1) return undefined;
    const ok = l.EVP_DecryptFinal_ex(ctx, out.subarray(at), outLength) === 1;
    if (!ok) {
      out.fill(0);
      return undefined;
    }
    return out;
  }
}
