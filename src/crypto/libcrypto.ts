/**
 * OpenSSL's libcrypto, reached with `Deno.dlopen`: found and loaded once per thread (the main
 * thread, and each RSA worker for its own use), with every symbol fsmtp calls declared here,
 * and the steps the operation modules share: importing a DER key into an EVP_PKEY, setting up
 * an RSA-OAEP context, and freeing what libcrypto holds when the JavaScript object owning it is
 * collected. The operations themselves live beside it: native_rsa.ts (RSA-OAEP decryption),
 * native_rsa_encrypt.ts (RSA-OAEP encryption), native_rsa_sign.ts (DKIM's RSA signatures),
 * native_gcm.ts (AES-256-GCM) and rsa_worker.ts (RSA-OAEP decryption on worker threads).
 *
 * Optional by design: where libcrypto cannot be loaded (another OS, no FFI permission)
 * {@link libcrypto} gives null and every caller uses WebCrypto or node:crypto instead, which
 * make and open the same octets.
 */

/**
 * The shapes several functions share. `(ctx, out, *outlen, in, inlen)`: one public-key
 * operation, writing at most `*outlen` octets to `out` and the length written to `*outlen`.
 */
const PKEY_OPERATION = ["pointer", "buffer", "buffer", "buffer", "usize"] as const;
/** `(ctx, cipher, engine, key, iv)`: a cipher context's set-up; null leaves a part as it is. */
const CIPHER_INIT = {
  parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
  result: "i32",
} as const;
/** `(ctx, out, *outlen, in, inlen)`: a cipher's next input (AAD with a null `out`). */
const CIPHER_UPDATE = {
  parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
  result: "i32",
} as const;
/** `(ctx, out, *outlen)`: the end of a cipher's input (GCM checks or makes its tag here). */
const CIPHER_FINAL = { parameters: ["pointer", "buffer", "buffer"], result: "i32" } as const;

/** Every libcrypto function fsmtp calls (all in OpenSSL 3.0 and later). */
const SYMBOLS = {
  // Keys.
  d2i_AutoPrivateKey: { parameters: ["pointer", "buffer", "i64"], result: "pointer" },
  d2i_PUBKEY: { parameters: ["pointer", "buffer", "i64"], result: "pointer" },
  EVP_PKEY_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_get_base_id: { parameters: ["pointer"], result: "i32" },
  // RSA-OAEP: a public-key context set up for one label.
  EVP_PKEY_CTX_new: { parameters: ["pointer", "pointer"], result: "pointer" },
  EVP_PKEY_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_decrypt_init: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_encrypt_init: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_padding: { parameters: ["pointer", "i32"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_oaep_md: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_CTX_set_rsa_mgf1_md: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_CTX_set0_rsa_oaep_label: { parameters: ["pointer", "pointer", "i32"], result: "i32" },
  EVP_sha256: { parameters: [], result: "pointer" },
  CRYPTO_malloc: { parameters: ["usize", "buffer", "i32"], result: "pointer" },
  CRYPTO_free: { parameters: ["pointer", "buffer", "i32"], result: "void" },
  /** Synchronous: the RSA workers call it on their own thread, a batch at a time. */
  EVP_PKEY_decrypt: { parameters: PKEY_OPERATION, result: "i32" },
  /**
   * The same function on Deno's blocking thread pool, for a single read's decryption on the
   * main thread (~0.5 ms: worth the thread hop, and it keeps the event loop free).
   */
  EVP_PKEY_decrypt_nonblocking: {
    name: "EVP_PKEY_decrypt",
    parameters: PKEY_OPERATION,
    result: "i32",
    nonblocking: true,
  },
  /** Synchronous: ~0.03 ms, less than a hop to the thread pool would cost. */
  EVP_PKEY_encrypt: { parameters: PKEY_OPERATION, result: "i32" },
  // RSASSA-PKCS1-v1_5 signing; a signature (~0.25 ms) is made on the thread pool.
  EVP_MD_CTX_new: { parameters: [], result: "pointer" },
  EVP_MD_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_DigestSignInit: {
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  EVP_DigestSign: { parameters: PKEY_OPERATION, result: "i32", nonblocking: true },
  // AES-256-GCM, synchronous (a few microseconds).
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_aes_256_gcm: { parameters: [], result: "pointer" },
  EVP_DecryptInit_ex: CIPHER_INIT,
  EVP_DecryptUpdate: CIPHER_UPDATE,
  EVP_DecryptFinal_ex: CIPHER_FINAL,
  EVP_EncryptInit_ex: CIPHER_INIT,
  EVP_EncryptUpdate: CIPHER_UPDATE,
  EVP_EncryptFinal_ex: CIPHER_FINAL,
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
} as const;

/** libcrypto's functions, as loaded on this thread. */
export type Libcrypto = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const LIBRARY_NAMES = ["libcrypto.so.3", "libcrypto.3.dylib", "libcrypto-3-x64.dll"];
const RSA_PKCS1_OAEP_PADDING = 4;
/** The source file OpenSSL's allocator records beside an allocation made here. */
const FILE_NAME = new TextEncoder().encode("libcrypto.ts\0");

let lib: Libcrypto | null | undefined;

/**
 * libcrypto's functions, or null when it cannot be loaded here. Looked up once per thread: a
 * worker is a separate isolate and loads its own handle when its module first asks.
 */
export function libcrypto(): Libcrypto | null {
  if (lib !== undefined) return lib;
  lib = null;
  for (const name of LIBRARY_NAMES) {
    try {
      // A copy with the same functions: Deno fills `symbols` one key at a time, and past a
      // dozen or so keys V8 keeps such an object as a hash table, slower to read on every
      // call; the copy made by spreading is a plain fast-properties object.
      lib = { ...Deno.dlopen(name, SYMBOLS).symbols };
      break;
    } catch {
      // not this name, or no FFI permission: try the next, else WebCrypto/node:crypto stand in
    }
  }
  return lib;
}

/** The address of a libcrypto object, to hand to a worker thread. */
export function addressOf(pointer: Deno.PointerValue): bigint {
  return BigInt(Deno.UnsafePointer.value(pointer));
}

/**
 * An EVP_PKEY made from a DER key: "private" takes PKCS#8 (or a traditional RSA key), "public"
 * a SubjectPublicKeyInfo. Null when libcrypto refuses it. The caller still owns `der`;
 * libcrypto keeps its own copy of the key, and the copy made here for the call is zeroed.
 * The caller owns the EVP_PKEY and frees it (see {@link freeOnCollect}).
 */
export function importDerKey(
  l: Libcrypto,
  der: Uint8Array,
  kind: "private" | "public",
): Deno.PointerObject | null {
  // A buffer of our own: its address goes into the cursor that d2i reads from (and advances),
  // and `data` stays reachable until the synchronous call returns.
  const data = new Uint8Array(der);
  try {
    const cursor = new BigUint64Array([addressOf(Deno.UnsafePointer.of(data))]);
    const d2i = kind === "private" ? l.d2i_AutoPrivateKey : l.d2i_PUBKEY;
    return d2i(null, cursor, BigInt(data.length));
  } finally {
    data.fill(0);
  }
}

/**
 * A new context on `pkey` set up for RSA-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017 §7.1)
 * and `label`, to decrypt or to encrypt; throws when libcrypto refuses. The caller frees it
 * with EVP_PKEY_CTX_free and keeps `pkey` alive as long as the context is used.
 */
export function oaepContext(
  l: Libcrypto,
  pkey: Deno.PointerValue,
  use: "decrypt" | "encrypt",
  label: Uint8Array,
): Deno.PointerObject {
  const ctx = l.EVP_PKEY_CTX_new(pkey, null);
  if (!ctx) throw new Error("EVP_PKEY_CTX_new failed");
  try {
    const sha256 = l.EVP_sha256();
    const init = use === "decrypt" ? l.EVP_PKEY_decrypt_init : l.EVP_PKEY_encrypt_init;
    if (
      init(ctx) <= 0 ||
      l.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      l.EVP_PKEY_CTX_set_rsa_oaep_md(ctx, sha256) <= 0 ||
      l.EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, sha256) <= 0
    ) {
      throw new Error("RSA-OAEP set-up failed");
    }
    // The context takes the label over and frees it itself: it must come from OpenSSL's own
    // allocator. The view onto that allocation is written once here, before the hand-over,
    // and not kept.
    const copy = l.CRYPTO_malloc(BigInt(Math.max(label.length, 1)), FILE_NAME, 0);
    if (!copy) throw new Error("CRYPTO_malloc failed");
    new Uint8Array(new Deno.UnsafePointerView(copy).getArrayBuffer(label.length)).set(label);
    if (l.EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, label.length) <= 0) {
      l.CRYPTO_free(copy, FILE_NAME, 0); // refused: still ours
      throw new Error("RSA-OAEP label refused");
    }
    return ctx;
  } catch (err) {
    l.EVP_PKEY_CTX_free(ctx);
    throw err;
  }
}

/**
 * libcrypto objects owned by one JavaScript object. The owner may replace a field while it
 * lives (a context set up for another label); what the fields hold when it is collected is
 * freed.
 */
export interface Owned {
  pkey?: Deno.PointerObject;
  pkeyCtx?: Deno.PointerObject | null;
  cipherCtx?: Deno.PointerObject;
}

const owned = new FinalizationRegistry<Owned>((held) => {
  if (!lib) return;
  // Either order is safe: a context holds its own reference to its key (EVP_PKEY_CTX_new
  // takes one), which also keeps the key of a nonblocking call in flight alive.
  if (held.pkeyCtx) lib.EVP_PKEY_CTX_free(held.pkeyCtx);
  if (held.pkey) lib.EVP_PKEY_free(held.pkey);
  // Freeing a cipher context also cleanses its key schedule (OpenSSL does).
  if (held.cipherCtx) lib.EVP_CIPHER_CTX_free(held.cipherCtx);
});

/**
 * Frees `held` when `owner` is collected. `held` must not refer back to `owner`, or the
 * owner is never collected; whoever hands a pointer out of the owner (to a worker) keeps the
 * owner reachable until the pointer is no longer used.
 */
export function freeOnCollect(owner: object, held: Owned): void {
  owned.register(owner, held);
}
