/**
 * First-start key material: a self-signed TLS certificate and a DKIM key pair, created only
 * when missing so an operator's real certificate or published DKIM key is never replaced.
 */

import { createPublicKey } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { createDkimKeyPair, dkimDnsRecordValue } from "./dkim_keys.ts";
import { createSelfSignedCertificate } from "./self_signed.ts";

/** Where {@link ensureKeys} looks for (and puts) key material. */
export interface EnsureKeysOptions {
  /** Directory for the DKIM keys (`dkim-private.pem`, `dkim-public.pem`); created 0700. */
  keysDir: string;
  /** TLS certificate chain PEM (config `tls.cert`). */
  certPath: string;
  /** TLS private key PEM (config `tls.key`). */
  keyPath: string;
  /** Name the self-signed certificate is issued for (config `hostname`). */
  hostname: string;
}

/** File name of the DKIM private key inside `keysDir`. */
export const DKIM_PRIVATE_FILE = "dkim-private.pem";
/** File name of the DKIM public key inside `keysDir`. */
export const DKIM_PUBLIC_FILE = "dkim-public.pem";

/** Private keys: owner only, since anyone reading them can impersonate the server. */
const SECRET_MODE = 0o600;
/** Certificates and public keys are public by nature. */
const PUBLIC_MODE = 0o644;
const DIR_MODE = 0o700;

/**
 * Creates whatever key material is missing and returns one human-readable line per thing
 * created, for the startup log; an empty array means nothing was touched.
 *
 * - `keysDir` is created with mode 0700 if missing.
 * - If both the certificate and its key are missing, a fresh self-signed pair is written; if
 *   only one is, this throws naming it (never replacing an operator's real certificate),
 *   because a certificate without its matching key (or vice versa) cannot serve TLS.
 * - If `keysDir/dkim-private.pem` is missing, a new DKIM pair is written; if only the public
 *   half is missing it is re-derived, so the already-published DNS record stays valid.
 *
 * Every file is written to a temporary name in its own directory and renamed into place, so a
 * crash never leaves a truncated key that would fail every later start.
 */
export async function ensureKeys(opts: EnsureKeysOptions): Promise<string[]> {
  const lines: string[] = [];
  if (await ensureDir(opts.keysDir)) lines.push(`created keys directory ${opts.keysDir}`);
  lines.push(...await ensureCertificate(opts));
  lines.push(...await ensureDkim(opts.keysDir));
  return lines;
}

/** Creates the TLS pair when either half is missing. */
async function ensureCertificate(opts: EnsureKeysOptions): Promise<string[]> {
  const certExists = await exists(opts.certPath);
  const keyExists = await exists(opts.keyPath);
  if (certExists && keyExists) return [];
  // Half a pair is an operator's problem to solve: replacing it could destroy a real
  // certificate or key, so say which file is missing and stop.
  if (certExists !== keyExists) {
    const [missing, present] = certExists
      ? [`tls.key ${opts.keyPath}`, `tls.cert ${opts.certPath}`]
      : [`tls.cert ${opts.certPath}`, `tls.key ${opts.keyPath}`];
    throw new Error(
      `${missing} is missing but ${present} exists; restore the missing file, or remove ` +
        `both to have a self-signed pair created`,
    );
  }

  const lines: string[] = [];
  for (const dir of new Set([dirname(opts.certPath), dirname(opts.keyPath)])) {
    if (await ensureDir(dir)) lines.push(`created directory ${dir}`);
  }
  const { certPem, keyPem } = await createSelfSignedCertificate(opts.hostname);
  // Key first: a crash between the renames then leaves "cert missing", which the next start
  // repairs, never a new certificate next to a stale key.
  await writeFileAtomic(opts.keyPath, keyPem, SECRET_MODE);
  await writeFileAtomic(opts.certPath, certPem, PUBLIC_MODE);
  lines.push(
    `created self-signed certificate ${opts.certPath} for ${opts.hostname} ` +
      `(replace it with a real one: see README)`,
    `created TLS private key ${opts.keyPath}`,
  );
  return lines;
}

/** Creates the DKIM pair, or only the public half when the private key already exists. */
async function ensureDkim(keysDir: string): Promise<string[]> {
  const privatePath = join(keysDir, DKIM_PRIVATE_FILE);
  const publicPath = join(keysDir, DKIM_PUBLIC_FILE);
  if (!await exists(privatePath)) {
    const { privatePem, publicPem } = await createDkimKeyPair();
    await writeFileAtomic(privatePath, privatePem, SECRET_MODE);
    await writeFileAtomic(publicPath, publicPem, PUBLIC_MODE);
    return [
      `created DKIM key pair ${privatePath} and ${publicPath}; publish a TXT record at ` +
      `<selector>._domainkey.<domain> with: ${dkimDnsRecordValue(publicPem)}`,
    ];
  }
  if (await exists(publicPath)) return [];
  const privatePem = await Deno.readTextFile(privatePath);
  const publicPem = createPublicKey(privatePem).export({ type: "spki", format: "pem" });
  await writeFileAtomic(publicPath, String(publicPem), PUBLIC_MODE);
  return [`recreated DKIM public key ${publicPath} from ${privatePath}`];
}

/** True if `path` exists; other errors (e.g. permission denied) propagate rather than hide. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Creates `dir` (and parents) with mode 0700 if missing; returns whether it was created. */
async function ensureDir(dir: string): Promise<boolean> {
  if (await exists(dir)) return false;
  await Deno.mkdir(dir, { recursive: true, mode: DIR_MODE });
  // mkdir's mode is filtered by the umask; set it exactly, as the directory holds secrets.
  await chmod(dir, DIR_MODE);
  return true;
}

/** chmod that is a no-op on Windows, where Deno does not implement it. */
async function chmod(path: string, mode: number): Promise<void> {
  if (Deno.build.os !== "windows") await Deno.chmod(path, mode);
}

/**
 * Writes `text` to a fresh temporary file next to `path`, flushes it to disk, then renames it
 * over `path`; rename within one directory is atomic on POSIX file systems. The file gets its
 * final mode before it is visible under the real name, so a key is never world-readable.
 */
export async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode });
    try {
      const data = new TextEncoder().encode(text);
      for (let written = 0; written < data.length;) {
        written += await file.write(data.subarray(written));
      }
      await file.syncData();
    } finally {
      file.close();
    }
    await chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
