/**
 * RSASSA-PKCS1-v1_5 with SHA-256 signing (RFC 8017 §8.2) through OpenSSL's libcrypto
 * (libcrypto.ts): the rsa-sha256 DKIM signature of every outgoing message. A 2048-bit
 * signature costs ~1.9 ms in WebCrypto here and ~0.25 ms in libcrypto (`openssl speed rsa2048`),
 * and the call runs on Deno's blocking thread pool (`nonblocking`), off the event loop.
 *
 * PKCS#1 v1.5 signatures are deterministic: this gives the very octets WebCrypto gives for the
 * same key and data. Optional by design: where libcrypto cannot be loaded (another OS, no FFI
 * permission) nothing is registered and the signer uses WebCrypto.
 */
import { freeOnCollect, importDerKey, type Libcrypto, libcrypto } from "./libcrypto.ts";

/** EVP_PKEY_RSA (NID_rsaEncryption). */
const EVP_PKEY_RSA = 6;

/** An RSA private key held by libcrypto, for RSASSA-PKCS1-v1_5 SHA-256 signatures. */
export class NativeRsaSigner {
  readonly #pkey: Deno.PointerObject;
  readonly #lib: Libcrypto;
  /** Octets of a signature: the modulus length. */
  readonly size: number;

  private constructor(lib: Libcrypto, pkey: Deno.PointerObject, size: number) {
    this.#lib = lib;
    this.#pkey = pkey;
    this.size = size;
    // The EVP_PKEY is freed when this signer is collected.
    freeOnCollect(this, { pkey });
  }

  /**
   * Imports a PKCS#8 DER RSA private key of `bits` bits; undefined when libcrypto is not
   * available or refuses the key (or it is not RSA). The caller still owns `pkcs8`; libcrypto
   * keeps its own copy, and the one made here is zeroed.
   */
  static fromPkcs8(pkcs8: Uint8Array, bits: number): NativeRsaSigner | undefined {
    const l = libcrypto();
    if (!l) return undefined;
    const pkey = importDerKey(l, pkcs8, "private");
    if (!pkey) return undefined;
    if (l.EVP_PKEY_get_base_id(pkey) !== EVP_PKEY_RSA) {
      l.EVP_PKEY_free(pkey);
      return undefined;
    }
    return new NativeRsaSigner(l, pkey, Math.ceil(bits / 8));
  }

  /** The RSASSA-PKCS1-v1_5 signature of SHA-256(`data`). */
  async sign(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    const l = this.#lib;
    const ctx = l.EVP_MD_CTX_new();
    if (!ctx) throw new Error("EVP_MD_CTX_new failed");
    try {
      // PKCS#1 v1.5 is the default padding of an RSA key's signing context.
      if (l.EVP_DigestSignInit(ctx, null, l.EVP_sha256(), null, this.#pkey) <= 0) {
        throw new Error("RSA signing set-up failed");
      }
      const input = new Uint8Array(data);
      const out = new Uint8Array(this.size);
      const outLength = new BigUint64Array([BigInt(out.length)]);
      const ok = await l.EVP_DigestSign(ctx, out, outLength, input, BigInt(input.length));
      if (ok <= 0) throw new Error("RSA signing failed");
      return out.subarray(0, Number(outLength[0]));
    } finally {
      l.EVP_MD_CTX_free(ctx);
    }
  }
}

/** The libcrypto twin of each imported WebCrypto signing key that has one. */
const twins = new WeakMap<CryptoKey, NativeRsaSigner>();

/**
 * Gives the WebCrypto RSASSA-PKCS1-v1_5 SHA-256 `key`, imported from `pkcs8`, a libcrypto twin
 * that {@link nativeSignerOf} hands out; nothing happens where libcrypto is not available.
 */
export function pairNativeSigner(key: CryptoKey, pkcs8: Uint8Array): void {
  const bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  const signer = NativeRsaSigner.fromPkcs8(pkcs8, bits);
  if (signer) twins.set(key, signer);
}

/** The libcrypto twin of `key`, when it has one. */
export function nativeSignerOf(key: CryptoKey): NativeRsaSigner | undefined {
  return twins.get(key);
}
