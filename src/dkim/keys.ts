/**
 * DKIM private keys from keys_dir (one set per signing domain, with a default set) and the DNS
 * TXT records that publish their public halves (RFC 6376 §3.6.1, RFC 8463 §4.2).
 */

import { join } from "node:path";
import { bytesToBase64, derToPem, pemToDer } from "../tls/pem.ts";
import { dkimDnsRecordValue, type DkimKeyPair } from "../tls/dkim_keys.ts";
import { pairNativeSigner } from "../crypto/native_rsa_sign.ts";
import type { DkimAlgorithm, DkimSigningKey } from "./sign.ts";

/** File name of each algorithm's PKCS#8 PEM private key, in keys_dir or keys_dir/<domain>. */
export const DKIM_KEY_FILES: Readonly<Record<DkimAlgorithm, string>> = {
  "rsa-sha256": "dkim-private.pem",
  "ed25519-sha256": "dkim-ed25519.pem",
};

/** A DKIM key file is missing, unreadable or not a usable key; the message names the file. */
export class DkimKeyError extends Error {
  /** The file concerned. */
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`DKIM key ${path}: ${message}`, options);
    this.name = "DkimKeyError";
    this.path = path;
  }
}

/** A domain name safe to use as a directory name (no "/", no "..", no empty label). */
const DOMAIN = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

/** Fixed DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): 32 raw key octets follow. */
const ED25519_SPKI_PREFIX = [
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x03,
  0x21,
  0x00,
];

/** RFC 8301 §3.2: verifiers reject RSA keys under 1024 bits, so signing with one is pointless. */
const MIN_RSA_BITS = 1024;

const cache = new Map<string, { mtime: number; size: number; key: Promise<CryptoKey> }>();

/**
 * Loads the signing keys for `domain`. If `<keysDir>/<domain>/` holds `dkim-private.pem` or
 * `dkim-ed25519.pem`, that directory's keys are used; otherwise those of `<keysDir>/` itself (the
 * default for every domain). Both directories are never mixed, since one domain's DNS publishes
 * one key set. Returns the RSA key first, then the Ed25519 key if there is one. Keys are cached
 * per file path, size and mtime, so a rotated key file is picked up on the next call.
 * Throws {@link DkimKeyError} when no key file exists or one cannot be read or imported.
 */
export async function loadDkimKeys(keysDir: string, domain: string): Promise<DkimSigningKey[]> {
  const name = domain.toLowerCase().replace(/\.$/, "");
  if (!DOMAIN.test(name)) throw new TypeError(`invalid DKIM domain: ${JSON.stringify(domain)}`);
  const algorithms = Object.keys(DKIM_KEY_FILES) as DkimAlgorithm[];
  for (const dir of [join(keysDir, name), keysDir]) {
    const found: { algorithm: DkimAlgorithm; path: string; info: Deno.FileInfo }[] = [];
    for (const algorithm of algorithms) {
      const path = join(dir, DKIM_KEY_FILES[algorithm]);
      const info = await statFile(path);
      if (info) found.push({ algorithm, path, info });
    }
    if (found.length === 0) continue;
    return await Promise.all(found.map(async ({ algorithm, path, info }) => ({
      algorithm,
      key: await cachedKey(path, info, algorithm),
    })));
  }
  throw new DkimKeyError(
    join(keysDir, DKIM_KEY_FILES["rsa-sha256"]),
    `not found (nor a key in ${join(keysDir, name)}/) to sign mail from ${name}`,
  );
}

async function statFile(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw new DkimKeyError(path, `cannot be read (${(err as Error).message})`, { cause: err });
  }
}

function cachedKey(path: string, info: Deno.FileInfo, algorithm: DkimAlgorithm) {
  const mtime = info.mtime?.getTime() ?? 0;
  const hit = cache.get(`${algorithm}\0${path}`);
  if (hit && hit.mtime === mtime && hit.size === info.size) return hit.key;
  const key = readKey(path, algorithm);
  cache.set(`${algorithm}\0${path}`, { mtime, size: info.size, key });
  key.catch(() => cache.delete(`${algorithm}\0${path}`)); // retry a broken file next time
  return key;
}

async function readKey(path: string, algorithm: DkimAlgorithm): Promise<CryptoKey> {
  let pem: string;
  try {
    pem = await Deno.readTextFile(path);
  } catch (err) {
    throw new DkimKeyError(path, `cannot be read (${(err as Error).message})`, { cause: err });
  }
  try {
    return await importDkimPrivateKey(pem, algorithm);
  } catch (err) {
    throw new DkimKeyError(path, (err as Error).message, { cause: err });
  }
}

/**
 * Imports an unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") as a non-extractable signing
 * key for `algorithm`. Throws if the PEM is not such a key, is of the other algorithm, or is an
 * RSA key under 1024 bits.
 */
export async function importDkimPrivateKey(
  pem: string,
  algorithm: DkimAlgorithm,
): Promise<CryptoKey> {
  const der = new Uint8Array(pemToDer(pem, "PRIVATE KEY"));
  const params = algorithm === "rsa-sha256"
    ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
    : { name: "Ed25519" };
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", der, params, false, ["sign"]);
  } catch (err) {
    throw new TypeError(`not a PKCS#8 ${params.name} private key (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (algorithm === "rsa-sha256") {
    const bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
    if (bits < MIN_RSA_BITS) throw new TypeError(`RSA key of ${bits} bits, need ≥ ${MIN_RSA_BITS}`);
    // Signing every outgoing message: libcrypto does it ~8× faster, off the event loop.
    pairNativeSigner(key, der);
  }
  return key;
}

/**
 * The TXT record value publishing `publicPem` (an SPKI "PUBLIC KEY" PEM) at
 * `<selector>._domainkey.<domain>`: `v=DKIM1; k=rsa; p=<base64 SPKI DER>` (RFC 6376 §3.6.1) or
 * `v=DKIM1; k=ed25519; p=<base64 of the raw 32-octet key>` (RFC 8463 §4.2). One line; records over
 * 255 octets must be split into several strings by whoever publishes them (RFC 6376 §3.6.2.2).
 */
export function dkimTxtRecord(publicPem: string, algorithm: DkimAlgorithm): string {
  if (algorithm === "rsa-sha256") return dkimDnsRecordValue(publicPem);
  const der = pemToDer(publicPem, "PUBLIC KEY");
  const prefixOk = der.length === ED25519_SPKI_PREFIX.length + 32 &&
    ED25519_SPKI_PREFIX.every((octet, i) => der[i] === octet);
  if (!prefixOk) throw new SyntaxError("not an Ed25519 SubjectPublicKeyInfo");
  return `v=DKIM1; k=ed25519; p=${bytesToBase64(der.subarray(ED25519_SPKI_PREFIX.length))}`;
}

/**
 * Creates an Ed25519 DKIM key pair (RFC 8463) as PEM: PKCS#8 private key (the content of
 * `dkim-ed25519.pem`) and SPKI public key (input of {@link dkimTxtRecord}).
 */
export async function createEd25519DkimKeyPair(): Promise<DkimKeyPair> {
  const keys = await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  return { privatePem: derToPem("PRIVATE KEY", pkcs8), publicPem: derToPem("PUBLIC KEY", spki) };
}
