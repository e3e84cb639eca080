/**
 * A worker thread of the RSA pool (rsa_pool.ts): decrypts batches of RSA-OAEP-SHA-256
 * ciphertexts with synchronous libcrypto calls, one context per batch. The private key is the
 * main thread's EVP_PKEY, passed by address: libcrypto keys may be used from several threads at
 * once (each with its own context), and no key material is copied here.
 */
import { parentPort } from "node:worker_threads";

const SYMBOLS = {
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
  },
} as const;

const LIBRARY_NAMES = ["libcrypto.so.3", "libcrypto.3.dylib", "libcrypto-3-x64.dll"];
const RSA_PKCS1_OAEP_PADDING = 4;
const FILE_NAME = new TextEncoder().encode("rsa_worker.ts\0");

/** A batch to decrypt; `pkey` is the address of the main thread's EVP_PKEY. */
export interface RsaRequest {
  id: number;
  pkey: bigint;
  label: Uint8Array;
  ciphertexts: Uint8Array[];
}

/** The plaintexts in order (null for one that did not open), or why the batch failed. */
export interface RsaReply {
  id: number;
  plaintexts?: (Uint8Array | null)[];
  error?: string;
}

function load(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  for (const name of LIBRARY_NAMES) {
    try {
      return Deno.dlopen(name, SYMBOLS).symbols;
    } catch {
      // not this name
    }
  }
  throw new Error("libcrypto cannot be loaded in the RSA worker");
}

const lib = load();
const port = parentPort!;

function decryptBatch(request: RsaRequest): (Uint8Array | null)[] {
  const pkey = Deno.UnsafePointer.create(request.pkey);
  const ctx = lib.EVP_PKEY_CTX_new(pkey, null);
  if (!ctx) throw new Error("EVP_PKEY_CTX_new failed");
  try {
    const sha256 = lib.EVP_sha256();
    if (
      lib.EVP_PKEY_decrypt_init(ctx) <= 0 ||
      lib.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      lib.EVP_PKEY_CTX_set_rsa_oaep_md(ctx, sha256) <= 0 ||
      lib.EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, sha256) <= 0
    ) {
      throw new Error("RSA-OAEP set-up failed");
    }
    const label = request.label;
    // The context takes the label over and frees it: it must come from OpenSSL's allocator.
    const copy = lib.CRYPTO_malloc(BigInt(Math.max(label.length, 1)), FILE_NAME, 0);
    if (!copy) throw new Error("CRYPTO_malloc failed");
    new Uint8Array(new Deno.UnsafePointerView(copy).getArrayBuffer(label.length)).set(label);
    if (lib.EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, label.length) <= 0) {
      throw new Error("RSA-OAEP label refused");
    }
    const out = new Uint8Array(512);
    const outLength = new BigUint64Array(1);
    return request.ciphertexts.map((input) => {
      outLength[0] = BigInt(out.length);
      const ok = lib.EVP_PKEY_decrypt(ctx, out, outLength, input, BigInt(input.length)) > 0;
      const plain = ok ? out.slice(0, Number(outLength[0])) : null;
      out.fill(0);
      return plain;
    });
  } finally {
    lib.EVP_PKEY_CTX_free(ctx);
  }
}

port.on("message", (request: RsaRequest) => {
  let reply: RsaReply;
  try {
    reply = { id: request.id, plaintexts: decryptBatch(request) };
  } catch (err) {
    reply = { id: request.id, error: (err as Error).message };
  }
  port.postMessage(reply);
  for (const p of reply.plaintexts ?? []) p?.fill(0); // the main thread got its own copy
});
