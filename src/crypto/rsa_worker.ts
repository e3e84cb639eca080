/**
 * A worker thread of the RSA pool (rsa_pool.ts): decrypts batches of RSA-OAEP-SHA-256
 * ciphertexts with synchronous libcrypto calls (libcrypto.ts, loaded again in this isolate),
 * one context per batch.
 *
 * The private key is the main thread's EVP_PKEY, passed by address, and no key material is
 * copied here. That is sound because an EVP_PKEY is only read by an operation, and libcrypto
 * lets several threads use one key at once, each with its own context (this worker makes its
 * own, which takes its own reference on the key). The worker never frees the key: the main
 * thread owns it, and rsa_pool.ts keeps its NativeRsaKey reachable until the batch's reply
 * comes back, so the address stays valid while it is used here.
 */
import { parentPort } from "node:worker_threads";
import { libcrypto, oaepContext } from "./libcrypto.ts";

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

const loaded = libcrypto();
if (!loaded) throw new Error("libcrypto cannot be loaded in the RSA worker");
const lib = loaded;
const port = parentPort!;

function decryptBatch(request: RsaRequest): (Uint8Array | null)[] {
  const pkey = Deno.UnsafePointer.create(request.pkey);
  const ctx = oaepContext(lib, pkey, "decrypt", request.label);
  try {
    // One output buffer for the batch, zeroed after each plaintext is copied out of it.
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
