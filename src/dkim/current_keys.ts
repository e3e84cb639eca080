/**
 * Which DKIM keys sign now and which are published now, fixed and rotated alike: the one place
 * the signer, the DNS server and `--dns-records` ask, so they always agree.
 *
 * A domain with its own key folder (`<keys_dir>/<domain>/`) keeps its fixed keys; rotation
 * replaces the default RSA key (`<keys_dir>/dkim-private.pem`). An Ed25519 key in keys_dir
 * keeps signing and being published under its fixed selector beside the rotated RSA keys.
 */
import { createPublicKey } from "node:crypto";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { DKIM_KEY_FILES, dkimTxtRecord, importDkimPrivateKey, loadDkimKeys } from "./keys.ts";
import { rotationPhase, type RotationTimes } from "./rotation_schedule.ts";
import { readRotatedKeys, rotatedKeyPath } from "./rotation_store.ts";
import { type DkimAlgorithm, dkimSelector, type DkimSigningKey } from "./sign.ts";

/** `[dkim]` of the config. */
export type DkimConfig = Config["dkim"];

/** A TXT record to publish at `<selector>._domainkey.<domain>`. */
export interface PublishedDkimKey {
  selector: string;
  txt: string;
}

/** The rotation delays, or undefined when `rotate` is off. */
export function rotationTimes(dkim: DkimConfig): RotationTimes | undefined {
  return dkim.rotate > 0
    ? { period: dkim.rotate, publishAhead: dkim.publish_ahead, retireAfter: dkim.retire_after }
    : undefined;
}

/**
 * The keys to sign mail from `domain` with at `now`: the fixed keys of {@link loadDkimKeys}
 * until a rotated key has been published for `publish_ahead`, then that key (plus a fixed
 * Ed25519 key, if there is one).
 */
export async function dkimSigningKeys(
  keysDir: string,
  domain: string,
  dkim: DkimConfig,
  now = Date.now(),
): Promise<DkimSigningKey[]> {
  const times = rotationTimes(dkim);
  if (!times || await hasOwnFolder(keysDir, domain)) return await loadDkimKeys(keysDir, domain);
  const { signing } = rotationPhase(await readRotatedKeys(keysDir), times, now);
  if (!signing) return await loadDkimKeys(keysDir, domain);
  const fixed = await loadDkimKeys(keysDir, domain).catch(() => []);
  return [
    {
      algorithm: "rsa-sha256",
      key: await rotatedKey(rotatedKeyPath(keysDir, signing.selector)),
      selector: signing.selector,
    },
    ...fixed.filter((k) => k.algorithm !== "rsa-sha256"),
  ];
}

/** The DKIM TXT records of `domain` published at `now`, fixed ones first. */
export async function publishedDkimKeys(
  keysDir: string,
  domain: string,
  dkim: DkimConfig,
  now = Date.now(),
): Promise<PublishedDkimKey[]> {
  const own = await hasOwnFolder(keysDir, domain);
  const times = own ? undefined : rotationTimes(dkim);
  const phase = times ? rotationPhase(await readRotatedKeys(keysDir), times, now) : undefined;
  const out: PublishedDkimKey[] = [];
  const dir = own ? join(keysDir, domain.toLowerCase()) : keysDir;
  for (const algorithm of Object.keys(DKIM_KEY_FILES) as DkimAlgorithm[]) {
    if (algorithm === "rsa-sha256" && phase && !phase.fixedPublished) continue;
    const txt = await fixedTxt(join(dir, DKIM_KEY_FILES[algorithm]), algorithm);
    if (txt) out.push({ selector: dkimSelector(dkim.selector, algorithm), txt });
  }
  for (const key of phase?.published ?? []) out.push({ selector: key.selector, txt: key.txt });
  return out;
}

async function hasOwnFolder(keysDir: string, domain: string): Promise<boolean> {
  const name = domain.toLowerCase().replace(/\.$/, "");
  // Only a domain name can be a folder name here; loadDkimKeys reports anything else.
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)) return false;
  const dir = join(keysDir, name);
  for (const file of Object.values(DKIM_KEY_FILES)) {
    if (await stat(join(dir, file))) return true;
  }
  return false;
}

async function stat(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

const txtCache = new Map<string, { mtime: number; txt: string }>();

/** The TXT value of a fixed private key file, derived once per file version; undefined if absent. */
async function fixedTxt(path: string, algorithm: DkimAlgorithm): Promise<string | undefined> {
  const info = await stat(path);
  if (!info) return undefined;
  const mtime = info.mtime?.getTime() ?? 0;
  const hit = txtCache.get(path);
  if (hit?.mtime === mtime) return hit.txt;
  const publicPem = createPublicKey(await Deno.readTextFile(path))
    .export({ type: "spki", format: "pem" }).toString();
  const txt = dkimTxtRecord(publicPem, algorithm);
  txtCache.set(path, { mtime, txt });
  return txt;
}

const keyCache = new Map<string, Promise<CryptoKey>>();

/** A rotated private key, imported once: its file never changes while its selector lives. */
function rotatedKey(path: string): Promise<CryptoKey> {
  let key = keyCache.get(path);
  if (!key) {
    key = Deno.readTextFile(path).then((pem) => importDkimPrivateKey(pem, "rsa-sha256"));
    key.catch(() => keyCache.delete(path));
    keyCache.set(path, key);
    // One key a period: forget the oldest (retired long ago) so the cache stays small.
    if (keyCache.size > 16) keyCache.delete(keyCache.keys().next().value!);
  }
  return key;
}
