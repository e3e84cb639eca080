/**
 * Self-signed X.509 v3 server certificate, built with WebCrypto and the DER encoder in ./der.ts.
 *
 * The server ships as one binary onto hosts that may lack `openssl`, yet STARTTLS/IMAPS need a
 * certificate from the first start; a self-signed one keeps TLS on until the operator installs
 * a real certificate.
 */

import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  integer,
  namedBits,
  nullValue,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  utf8String,
  x509Time,
} from "./der.ts";
import { base64ToBytes, derToPem } from "./pem.ts";

/** Options for {@link createSelfSignedCertificate}. */
export interface SelfSignedOptions {
  /**
   * Validity after `now`, in days; default and most {@link MAX_SELF_SIGNED_DAYS}, so that with
   * the hour of clock slack before `now` the whole period stays within 398 days.
   */
  days?: number;
  /** Clock override, for deterministic tests. */
  now?: Date;
}

/** PEM pair produced by {@link createSelfSignedCertificate}. */
export interface SelfSignedCertificate {
  /** "-----BEGIN CERTIFICATE-----" block. */
  certPem: string;
  /** Unencrypted PKCS#8 "-----BEGIN PRIVATE KEY-----" block matching the certificate. */
  keyPem: string;
}

const OID = {
  commonName: "2.5.4.3",
  sha256WithRSAEncryption: "1.2.840.113549.1.1.11",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

/** RSA parameters shared by the TLS and DKIM keys: PKCS#1 v1.5 with SHA-256, 2048-bit, e=65537. */
export const RSA_KEY_PARAMS: RsaHashedKeyGenParams = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
};

/**
 * Longest validity after `now` of a certificate made here, in days: 397, so notBefore (an hour
 * earlier) to notAfter spans under 398 days, the CA/Browser Forum limit for TLS leaves since
 * 2020 that clients and scanners (testssl) hold every server certificate to.
 */
export const MAX_SELF_SIGNED_DAYS = 397;

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Creates an RSA-2048 key and a self-signed certificate for `hostname`: subject = issuer =
 * CN=hostname, validity from one hour before `now` (tolerating clients with slightly slow
 * clocks) to `days` after it, and the extensions a TLS server leaf needs.
 */
export async function createSelfSignedCertificate(
  hostname: string,
  opts: SelfSignedOptions = {},
): Promise<SelfSignedCertificate> {
  checkHostname(hostname);
  const days = opts.days ?? MAX_SELF_SIGNED_DAYS;
  if (!Number.isFinite(days) || days <= 0 || days > MAX_SELF_SIGNED_DAYS) {
    throw new RangeError(`days must be > 0 and <= ${MAX_SELF_SIGNED_DAYS}, got ${days}`);
  }
  const now = opts.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw new RangeError("opts.now is an invalid Date");

  const keys = await crypto.subtle.generateKey(RSA_KEY_PARAMS, true, ["sign", "verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const jwk = await crypto.subtle.exportKey("jwk", keys.publicKey);

  const signatureAlgorithm = sequence(oid(OID.sha256WithRSAEncryption), nullValue());
  const name = sequence(set(sequence(oid(OID.commonName), utf8String(hostname))));
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3, needed for extensions
    integer(randomSerial()),
    signatureAlgorithm,
    name,
    sequence(
      x509Time(new Date(now.getTime() - HOUR_MS)),
      x509Time(new Date(now.getTime() + days * DAY_MS)),
    ),
    name,
    spki,
    explicit(3, sequence(...await extensions(hostname, jwk))),
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign(RSA_KEY_PARAMS.name, keys.privateKey, tbs),
  );
  const cert = sequence(tbs, signatureAlgorithm, bitString(signature));
  return { certPem: derToPem("CERTIFICATE", cert), keyPem: derToPem("PRIVATE KEY", pkcs8) };
}

/**
 * Rejects names that would produce a certificate no client could match, so a typo in the
 * configured hostname fails at startup instead of as an opaque handshake error later.
 */
function checkHostname(hostname: string): void {
  if (
    hostname.length === 0 || hostname.length > 253 || !/^[A-Za-z0-9._-]+$/.test(hostname)
  ) {
    throw new SyntaxError(
      `hostname ${JSON.stringify(hostname)} is not an ASCII DNS name or IPv4 address`,
    );
  }
}

/**
 * 16 random bytes with the top bit cleared (a negative serial is invalid, RFC 5280 §4.1.2.2)
 * and the next bit set so the encoding is always exactly 16 octets; 126 bits of entropy
 * stay, well above the 64 that the CA/Browser Forum asks for.
 */
function randomSerial(): Uint8Array {
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] & 0x7f) | 0x40;
  return serial;
}

/** Encodes one Extension; `critical` is omitted when false because DER drops DEFAULT values. */
function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

/** The v3 extensions of a TLS server leaf certificate. */
async function extensions(hostname: string, jwk: JsonWebKey): Promise<Uint8Array[]> {
  return [
    // Empty SEQUENCE: cA defaults to FALSE, so DER leaves it out.
    extension(OID.basicConstraints, true, sequence()),
    // Bit 0 digitalSignature (ECDHE suites), bit 2 keyEncipherment (RSA key exchange).
    extension(OID.keyUsage, true, namedBits([0, 2])),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, sequence(...subjectAltNames(hostname))),
    extension(OID.subjectKeyIdentifier, false, octetString(await keyIdentifier(jwk))),
  ];
}

/**
 * GeneralNames for the certificate. Clients match subjectAltName, not CN (RFC 6125), so it
 * carries the name; an IPv4 hostname becomes an iPAddress entry since a dNSName holding
 * digits would never match an IP connection.
 */
function subjectAltNames(hostname: string): Uint8Array[] {
  const ipv4 = parseIpv4(hostname);
  if (ipv4) return [implicitPrimitive(7, ipv4)];
  const names = [dnsName(hostname)];
  if (hostname.toLowerCase() === "localhost") {
    names.push(dnsName("localhost"), implicitPrimitive(7, Uint8Array.of(127, 0, 0, 1)));
  }
  return dedupe(names);
}

/** GeneralName dNSName [2] IMPLICIT IA5String. */
function dnsName(name: string): Uint8Array {
  return implicitPrimitive(2, new TextEncoder().encode(name));
}

/** Drops byte-identical entries (hostname "localhost" would otherwise appear twice). */
function dedupe(items: Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = item.join(",");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Returns the four octets of a dotted-quad IPv4 address, or null if `text` is not one. */
function parseIpv4(text: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? Uint8Array.from(octets) : null;
}

/**
 * subjectKeyIdentifier by RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT
 * STRING contents, i.e. the PKCS#1 RSAPublicKey. It is rebuilt from the JWK rather than cut
 * out of the SPKI so no DER parser is needed; DER is canonical, so the bytes are identical.
 */
async function keyIdentifier(jwk: JsonWebKey): Promise<Uint8Array> {
  if (!jwk.n || !jwk.e) throw new Error("exported RSA JWK lacks n or e");
  const rsaPublicKey = sequence(integer(base64UrlToBytes(jwk.n)), integer(base64UrlToBytes(jwk.e)));
  return new Uint8Array(await crypto.subtle.digest("SHA-1", rsaPublicKey));
}

/** Decodes unpadded base64url, the JWK encoding of big integers. */
function base64UrlToBytes(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return base64ToBytes(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
}
