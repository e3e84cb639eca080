/** DKIM signing key generation and the DNS TXT record value that publishes its public half. */

import { bytesToBase64, derToPem, pemToDer } from "./pem.ts";
import { RSA_KEY_PARAMS } from "./self_signed.ts";

/** PEM pair produced by {@link createDkimKeyPair}. */
export interface DkimKeyPair {
  /** Unencrypted PKCS#8 "-----BEGIN PRIVATE KEY-----" block used to sign outgoing mail. */
  privatePem: string;
  /** SPKI "-----BEGIN PUBLIC KEY-----" block, the form the `p=` tag carries (RFC 6376 §3.6.1). */
  publicPem: string;
}

/**
 * Creates an RSA-2048 DKIM key pair. 2048 bits is what RFC 8301 recommends and still fits a
 * single DNS TXT record once split into 255-octet strings; rsa-sha256 is PKCS#1 v1.5, which
 * is why the key is generated for RSASSA-PKCS1-v1_5.
 */
export async function createDkimKeyPair(): Promise<DkimKeyPair> {
  const keys = await crypto.subtle.generateKey(RSA_KEY_PARAMS, true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  return {
    privatePem: derToPem("PRIVATE KEY", pkcs8),
    publicPem: derToPem("PUBLIC KEY", spki),
  };
}

/**
 * Returns the TXT record value to publish at `<selector>._domainkey.<domain>`:
 * `v=DKIM1; k=rsa; p=<base64 of the SPKI DER>`, on one line with no wrapping (the operator's
 * DNS tool does any 255-octet string splitting). Throws if `publicPem` holds no "PUBLIC KEY"
 * block, so a private key can never be published by mistake.
 */
export function dkimDnsRecordValue(publicPem: string): string {
  // Decode and re-encode rather than copy the PEM body, so stray whitespace cannot leak in.
  return `v=DKIM1; k=rsa; p=${bytesToBase64(pemToDer(publicPem, "PUBLIC KEY"))}`;
}
