/**
 * RSA-OAEP (SHA-256, MGF1-SHA-256, with a label) encryption through OpenSSL's libcrypto
 * (libcrypto.ts): the wrap of a message's content key for each recipient at delivery.
 * WebCrypto's RSA-OAEP encryption costs ~0.5 ms on the event loop here (node:crypto's ~1.2 ms),
 * which made it the largest single cost of accepting a message for three recipients; libcrypto
 * takes ~0.03 ms. That is called synchronously: handing so short a call to the thread pool
 * (`nonblocking`) cost more CPU than the operation itself (~0.08 ms measured).
 *
 * Optional by design, like native_rsa.ts: where libcrypto cannot be loaded, WebCrypto encrypts
 * instead; both make ciphertexts either one decrypts.
 */
import {
  freeOnCollect,
  importDerKey,
  type Libcrypto,
  libcrypto,
  oaepContext,
  type Owned,
} from "./libcrypto.ts";

/** Room for the ciphertext of any RSA key up to 16,384 bits. */
const MAX_OUTPUT = 2048;

/** What libcrypto holds for one key: the key, and an encryption context set up for a label. */
interface Held extends Owned {
  pkey: Deno.PointerObject;
  pkeyCtx: Deno.PointerObject | null;
  label: Uint8Array | null;
}

/** An RSA public key held by libcrypto. */
export class NativeRsaPublicKey {
  readonly #held: Held;
  readonly #lib: Libcrypto;

  private constructor(lib: Libcrypto, pkey: Deno.PointerObject) {
    this.#lib = lib;
    this.#held = { pkey, pkeyCtx: null, label: null };
    // The key and its current context are freed when this object is collected.
    freeOnCollect(this, this.#held);
  }

  /** Imports a SubjectPublicKeyInfo DER key; undefined when libcrypto is not available. */
  static fromSpki(spki: Uint8Array): NativeRsaPublicKey | undefined {
    const l = libcrypto();
    const pkey = l && importDerKey(l, spki, "public");
    return pkey ? new NativeRsaPublicKey(l!, pkey) : undefined;
  }

  /** Encrypts `plain` with RSA-OAEP-SHA-256 and `label`. */
  encrypt(plain: Uint8Array, label: Uint8Array): Uint8Array<ArrayBuffer> {
    const l = this.#lib;
    const ctx = this.#context(label);
    const input = new Uint8Array(plain);
    const out = new Uint8Array(MAX_OUTPUT);
    const outLength = new BigUint64Array([BigInt(out.length)]);
    const ok = l.EVP_PKEY_encrypt(ctx, out, outLength, input, BigInt(input.length));
    input.fill(0);
    if (ok <= 0) {
      this.#dropContext();
      throw new Error("RSA-OAEP encryption failed");
    }
    return out.slice(0, Number(outLength[0]));
  }

  /**
   * The context for `label`, set up once and kept: an initialised context serves any number
   * of encryptions (each draws its own OAEP seed), and setting one up took most of the time.
   */
  #context(label: Uint8Array): Deno.PointerObject {
    const held = this.#held;
    if (held.pkeyCtx && held.label && sameBytes(held.label, label)) return held.pkeyCtx;
    this.#dropContext();
    const ctx = oaepContext(this.#lib, held.pkey, "encrypt", label);
    held.pkeyCtx = ctx;
    held.label = label.slice();
    return ctx;
  }

  #dropContext(): void {
    const held = this.#held;
    if (held.pkeyCtx) this.#lib.EVP_PKEY_CTX_free(held.pkeyCtx);
    held.pkeyCtx = null;
    held.label = null;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** libcrypto handles of imported WebCrypto public keys (null: libcrypto refused the key). */
const natives = new WeakMap<CryptoKey, NativeRsaPublicKey | null>();

/**
 * RSA-OAEP-SHA-256 encryption of `plain` under `publicKey` with `label`: through libcrypto when
 * it loads (the key is imported once and remembered beside the CryptoKey), else WebCrypto.
 */
export async function rsaOaepEncrypt(
  publicKey: CryptoKey,
  plain: Uint8Array<ArrayBuffer>,
  label: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  let native = natives.get(publicKey);
  if (native === undefined && publicKey.extractable && libcrypto()) {
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
    native = NativeRsaPublicKey.fromSpki(spki) ?? null;
    natives.set(publicKey, native);
  }
  if (native) return native.encrypt(plain, label);
  return new Uint8Array(
    await crypto.subtle.encrypt({ name: "RSA-OAEP", label }, publicKey, plain),
  );
}
