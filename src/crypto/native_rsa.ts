/**
 * RSA-OAEP (SHA-256, MGF1-SHA-256, with a label) decryption through OpenSSL's libcrypto
 * (libcrypto.ts). The first read of a message delivered while its user was away costs one
 * RSA private-key operation: 3.3 ms in WebCrypto here, 0.46 ms in libcrypto (DESIGN.md,
 * platform facts). Calls run on Deno's blocking thread pool (`nonblocking`), so many first reads
 * use every core and never stall the event loop.
 *
 * Optional by design: where libcrypto cannot be loaded this gives nothing and callers use
 * WebCrypto, which decrypts the same ciphertexts.
 */
import {
  addressOf,
  freeOnCollect,
  importDerKey,
  type Libcrypto,
  libcrypto,
  oaepContext,
} from "./libcrypto.ts";

/** An RSA private key held by libcrypto. */
export class NativeRsaKey {
  readonly #pkey: Deno.PointerObject;
  readonly #lib: Libcrypto;

  private constructor(lib: Libcrypto, pkey: Deno.PointerObject) {
    this.#lib = lib;
    this.#pkey = pkey;
    // The EVP_PKEY is freed when this object is collected.
    freeOnCollect(this, { pkey });
  }

  /**
   * Imports a PKCS#8 DER private key; undefined when libcrypto is not available or refuses
   * the key. The caller still owns (and zeroes) `pkcs8`; libcrypto keeps its own copy.
   */
  static fromPkcs8(pkcs8: Uint8Array): NativeRsaKey | undefined {
    const l = libcrypto();
    const pkey = l && importDerKey(l, pkcs8, "private");
    return pkey ? new NativeRsaKey(l!, pkey) : undefined;
  }

  /**
   * The EVP_PKEY's address, for the RSA pool's workers (rsa_pool.ts); valid while this object
   * is reachable, so whoever passes it on keeps a reference until the workers are done.
   */
  get address(): bigint {
    return addressOf(this.#pkey);
  }

  /** Decrypts an RSA-OAEP-SHA-256 ciphertext made with `label`; throws when it does not open. */
  async decrypt(ciphertext: Uint8Array, label: Uint8Array): Promise<Uint8Array> {
    const l = this.#lib;
    // The context holds its own reference to the key, so the key outlives the call even if
    // this object is collected while it runs.
    const ctx = oaepContext(l, this.#pkey, "decrypt", label);
    try {
      // Buffers of our own: the call runs on another thread while this one goes on, so what
      // it reads and writes must not be a view the caller may reuse meanwhile.
      const input = new Uint8Array(ciphertext);
      const out = new Uint8Array(input.length);
      const outLength = new BigUint64Array([BigInt(out.length)]);
      const ok = await l.EVP_PKEY_decrypt_nonblocking(
        ctx,
        out,
        outLength,
        input,
        BigInt(input.length),
      );
      if (ok <= 0) throw new Error("RSA-OAEP decryption failed");
      return out.subarray(0, Number(outLength[0]));
    } finally {
      l.EVP_PKEY_CTX_free(ctx);
    }
  }
}
