/**
 * RSA-OAEP (SHA-256, MGF1-SHA-256, with a label) decryption through OpenSSL's libcrypto, reached
 * with `Deno.dlopen`. The first read of a message delivered while its user was away costs one
 * RSA private-key operation: 3.3 ms in WebCrypto here, 0.46 ms in libcrypto (DESIGN.md,
 * platform facts). Calls run on Deno's blocking thread pool (`nonblocking`), so many first reads
 * use every core and never stall the event loop.
 *
 * Optional by design: where libcrypto cannot be loaded (another OS, no FFI permission) this
 * gives nothing and callers use WebCrypto, which decrypts the same ciphertexts.
 */

const SYMBOLS = {
  d2i_AutoPrivateKey: { parameters: ["pointer", "buffer", "i64"], result: "pointer" },
  EVP_PKEY_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_CTX_new: { parameters: ["pointer", "pointer"], result: "pointer" },
  EVP_PKEY_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_decrypt_init: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_padding: { parameters: ["pointer", "i32"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_oaep_md: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_mgf1_md: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_CTX_set0_rsa_oaep_label: {
    parameters: ["pointer", "pointer", "i32"],
    result: "i32",
  },
  EVP_sha256: { parameters: [], result: "pointer" },
  CRYPTO_malloc: { parameters: ["usize", "buffer", "i32"], result: "pointer" },
  EVP_PKEY_decrypt: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "usize"],
    result: "i32",
    nonblocking: true,
  },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const RSA_PKCS1_OAEP_PADDING = 4;
const LIBRARY_NAMES = ["libcrypto.so.3", "libcrypto.3.dylib", "libcrypto-3-x64.dll"];
const FILE_NAME = new TextEncoder().encode("native_rsa.ts\0");

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

// EVP_PKEY handles are freed when the key object that holds one is collected.
const handles = new FinalizationRegistry<Deno.PointerValue>((pkey) => {
  if (pkey && lib) lib.EVP_PKEY_free(pkey);
});

/** An RSA private key held by libcrypto. */
export class NativeRsaKey {
  readonly #pkey: Deno.PointerObject;
  readonly #lib: Lib;

  private constructor(lib: Lib, pkey: Deno.PointerObject) {
    this.#lib = lib;
    this.#pkey = pkey;
    handles.register(this, pkey);
  }

  /**
   * Imports a PKCS#8 DER private key; undefined when libcrypto is not available or refuses
   * the key. The caller still owns (and zeroes) `pkcs8`; libcrypto keeps its own copy.
   */
  static fromPkcs8(pkcs8: Uint8Array): NativeRsaKey | undefined {
    const l = libcrypto();
    if (!l) return undefined;
    const data = new Uint8Array(pkcs8);
    try {
      const cursor = new BigUint64Array([
        BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(data))),
      ]);
      const pkey = l.d2i_AutoPrivateKey(null, cursor, BigInt(data.length));
      return pkey ? new NativeRsaKey(l, pkey) : undefined;
    } finally {
      data.fill(0);
    }
  }

  /**
   * The EVP_PKEY's address, for the RSA pool's workers (rsa_pool.ts); valid while this object
   * is reachable, so whoever passes it on keeps a reference until the workers are done.
   */
  get address(): bigint {
    return BigInt(Deno.UnsafePointer.value(this.#pkey));
  }

  /** Decrypts an RSA-OAEP-SHA-256 ciphertext made with `label`; throws when it does not open. */
  async decrypt(ciphertext: Uint8Array, label: Uint8Array): Promise<Uint8Array> {
    const l = this.#lib;
    const ctx = l.EVP_PKEY_CTX_new(this.#pkey, null);
    if (!ctx) throw new Error("EVP_PKEY_CTX_new failed");
    try {
      const sha256 = l.EVP_sha256();
      if (
        l.EVP_PKEY_decrypt_init(ctx) <= 0 ||
        l.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        l.EVP_PKEY_CTX_set_rsa_oaep_md(ctx, sha256) <= 0 ||
        l.EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, sha256) <= 0
      ) {
        throw new Error("RSA-OAEP set-up failed");
      }
      // The label is handed over to the context, which frees it: it must come from OpenSSL's
      // own allocator.
      const copy = l.CRYPTO_malloc(BigInt(Math.max(label.length, 1)), FILE_NAME, 0);
      if (!copy) throw new Error("CRYPTO_malloc failed");
      new Uint8Array(new Deno.UnsafePointerView(copy).getArrayBuffer(label.length)).set(label);
      if (l.EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, label.length) <= 0) {
        throw new Error("RSA-OAEP label refused");
      }
      const input = new Uint8Array(ciphertext);
      const out = new Uint8Array(input.length);
      const outLength = new BigUint64Array([BigInt(out.length)]);
      const ok = await l.EVP_PKEY_decrypt(ctx, out, outLength, input, BigInt(input.length));
      if (ok <= 0) throw new Error("RSA-OAEP decryption failed");
      return out.subarray(0, Number(outLength[0]));
    } finally {
      l.EVP_PKEY_CTX_free(ctx);
    }
  }
}
