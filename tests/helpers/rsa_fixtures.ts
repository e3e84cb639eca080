/**
 * RSA keys and ciphertexts made with WebCrypto, for the tests of the libcrypto modules
 * (src/crypto/libcrypto.ts and its users) and for bench/rsa_speed.ts: what libcrypto makes
 * must open with WebCrypto, and what WebCrypto makes must open with libcrypto.
 */
import { NativeRsaKey } from "../../src/crypto/native_rsa.ts";

/** A fresh extractable 2048-bit RSA key pair with SHA-256, for RSA-OAEP or for PKCS#1 v1.5. */
export function rsaKeyPair(
  name: "RSA-OAEP" | "RSASSA-PKCS1-v1_5" = "RSA-OAEP",
): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(
    {
      name,
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    name === "RSA-OAEP" ? ["encrypt", "decrypt"] : ["sign", "verify"],
  ) as Promise<CryptoKeyPair>;
}

/** `key` as DER: PKCS#8 for a private key, SubjectPublicKeyInfo for a public one. */
export async function derOf(key: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  const format = key.type === "private" ? "pkcs8" : "spki";
  return new Uint8Array(await crypto.subtle.exportKey(format, key));
}

/** WebCrypto's RSA-OAEP-SHA-256 ciphertext of `data` under `publicKey` with `label`. */
export async function oaepSeal(
  publicKey: CryptoKey,
  data: Uint8Array<ArrayBuffer>,
  label: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP", label }, publicKey, data));
}

/** An RSA-OAEP key pair, its private key in libcrypto, and WebCrypto sealing to it. */
export interface NativeOaepFixture {
  pair: CryptoKeyPair;
  /** Undefined where libcrypto cannot be loaded (the test then says it skips). */
  native: NativeRsaKey | undefined;
  seal(data: Uint8Array<ArrayBuffer>, label: Uint8Array<ArrayBuffer>): Promise<Uint8Array>;
}

/** A fresh {@link NativeOaepFixture}; `test` names the test in the skip notice. */
export async function nativeOaepFixture(test: string): Promise<NativeOaepFixture> {
  const pair = await rsaKeyPair();
  const native = NativeRsaKey.fromPkcs8(await derOf(pair.privateKey));
  if (!native) console.log(`${test}: libcrypto not loadable here; skipped`);
  return { pair, native, seal: (data, label) => oaepSeal(pair.publicKey, data, label) };
}
