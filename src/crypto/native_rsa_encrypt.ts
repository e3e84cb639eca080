/**
 * RSA-OAEP (SHA-256, MGF1-SHA-256, with a label) encryption through OpenSSL's libcrypto, reached
 * with `Deno.dlopen`: the wrap of a message's content key for each recipient at delivery.
 * WebCrypto's RSA-OAEP encryption costs ~0.5 ms on the event loop here (node:crypto's ~1.2 ms),
 * which made it the largest single cost of accepting a message for three recipients; libcrypto
 * takes ~0.03 ms. That is called synchronously: handing so short a call to the thread pool
 * (`nonblocking`) cost more CPU than the operation itself (~0.08 ms measured).
 *
 * Optional by design, like native_rsa.ts: where libcrypto cannot be loaded, WebCrypto encrypts
 * instead; both make ciphertexts either one decrypts.
 */

const SYMBOLS = {
  d2i_PUBKEY: { parameters: ["pointer", "buffer", "i64"], result: "pointer" },
  EVP_PKEY_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_CTX_new: { parameters: ["pointer", "pointer"], result: "pointer" },
  EVP_PKEY_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_encrypt_init: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_padding: { parameters: ["pointer", "i32"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_oaep_md: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_mgf1_md: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_CTX_set0_rsa_oaep_label: {
    parameters: ["pointer", "pointer", "i32"],
    result: "i32",
  },
  EVP_sha256: { parameters: [], result: "pointer" },
  CRYPTO_malloc: { parameters: ["usize", "buffer", "i32"], result: "pointer" },
  CRYPTO_free: { parameters: ["pointer", "buffer", "i32"], result: "void" },
  EVP_PKEY_encrypt: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "usize"],
    result: "i32",
  },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const RSA_PKCS1_OAEP_PADDING = 4;
const LIBRARY_NAMES = ["libcrypto.so.3", "libcrypto.3.dylib", "libcrypto-3-x64.dll"];
const FILE_NAME = new TextEncoder().encode("native_rsa_encrypt.ts\0");
/** Room for the ciphertext of any RSA key up to 16,384 bits. */
const MAX_OUTPUT = 2048;

let lib: Lib | null | undefined;

/** libcrypto's symbols, or null when it cannot be loaded here (looked up once). */
function libcrypto(): Lib | null {
  if (lib !== undefined) return lib;
  lib = null;
  for (const name of LIBRARY_NAMES) {
    try {
      lib = Deno.dlopen(name, SYMBOLS).symbols;
      break;
    } catch {
      // not this name, or no FFI permission: try the next, else WebCrypto stands in
    }
  }
  return lib;
}

/** What libcrypto holds for one key: the key, and an encryption context set up for a label. */
interface Held {
  pkey: Deno.PointerObject;
  ctx: Deno.PointerObject | null;
  label: Uint8Array | null;
}

// Freed when the key object that holds them is collected.
const handles = new FinalizationRegistry<Held>((held) => {
  if (!lib) return;
  if (held.ctx) lib.EVP_PKEY_CTX_free(held.ctx);
  lib.EVP_PKEY_free(held.pkey);
});

/** An RSA public key held by libcrypto. */
export class NativeRsaPublicKey {
  readonly #held: Held;
  readonly #lib: Lib;

  private constructor(lib: Lib, pkey: Deno.PointerObject) {
    this.#lib = lib;
    this.#held = { pkey, ctx: null, label: null };
    handles.register(this, this.#held);
  }

  /** Imports a SubjectPublicKeyInfo DER key; undefined when libcrypto is not available. */
  static fromSpki(spki: Uint8Array): NativeRsaPublicKey | undefined {
    const l = libcrypto();
    if (!l) return undefined;
    const data = new Uint8Array(spki);
    const cursor = new BigUint64Array([
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(data))),
    ]);
    const pkey = l.d2i_PUBKEY(null, cursor, BigInt(data.length));
    return pkey ? new NativeRsaPublicKey(l, pkey) : undefined;
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
    if (held.ctx && held.label && sameBytes(held.label, label)) return held.ctx;
    this.#dropContext();
    const l = this.#lib;
    const ctx = l.EVP_PKEY_CTX_new(held.pkey, null);
    if (!ctx) throw new Error("EVP_PKEY_CTX_new failed");
    try {
      const sha256 = l.EVP_sha256();
      if (
        l.EVP_PKEY_encrypt_init(ctx) <= 0 ||
        l.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        l.EVP_PKEY_CTX_set_rsa_oaep_md(ctx, sha256) <= 0 ||
        l.EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, sha256) <= 0
      ) {
        throw new Error("RSA-OAEP set-up failed");
      }
      // The context takes the label and frees it: it must come from OpenSSL's own allocator.
      const copy = l.CRYPTO_malloc(BigInt(Math.max(label.length, 1)), FILE_NAME, 0);
      if (!copy) throw new Error("CRYPTO_malloc failed");
      new Uint8Array(new Deno.UnsafePointerView(copy).getArrayBuffer(label.length)).set(label);
      if (l.EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, label.length) <= 0) {
        l.CRYPTO_free(copy, FILE_NAME, 0);
        throw new Error("RSA-OAEP label refused");
      }
    } catch (err) {
      l.EVP_PKEY_CTX_free(ctx);
      throw err;
    }
    held.ctx = ctx;
    held.label = label.slice();
    return ctx;
  }

  #dropContext(): void {
    const held = this.#held;
    if (held.ctx) this.#lib.EVP_PKEY_CTX_free(held.ctx);
    held.ctx = null;
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
