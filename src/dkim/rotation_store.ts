/**
 * The rotated DKIM keys on disk, in `<keys_dir>/dkim-rotation/`: `state.json` (selectors,
 * publication times, TXT values) and one `<selector>.pem` private key each (0600).
 *
 * Readers (signers, the DNS server, `--dns-records`) never lock: every file is written to a
 * temporary name and renamed into place, so they see the old state or the new one. A rotation
 * step holds an exclusive lock on `.lock`, so two processes stepping at once (the DNS server
 * and a cron `--dkim-rotate`) never both create a key; it writes a key's file before the state
 * names it, and deletes a key's file only after the state stopped naming it.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../tls/ensure_keys.ts";
import { createDkimKeyPair } from "../tls/dkim_keys.ts";
import { dkimTxtRecord } from "./keys.ts";
import {
  newSelector,
  type RotatedKey,
  rotationPhase,
  type RotationTimes,
} from "./rotation_schedule.ts";

/** The folder inside keys_dir. */
export const ROTATION_DIR = "dkim-rotation";
const STATE_FILE = "state.json";
const LOCK_FILE = ".lock";
/** Selectors are single DNS labels; also what keeps a state file from naming other paths. */
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The private key file of a rotated selector. */
export function rotatedKeyPath(keysDir: string, selector: string): string {
  return join(keysDir, ROTATION_DIR, `${selector}.pem`);
}

/** Keyed by inode too: every write renames a new file into place, so a new state is a new inode. */
const cache = new Map<string, { ino: number; mtime: number; size: number; keys: RotatedKey[] }>();

/**
 * The rotated keys in `keysDir` ([] when rotation never ran), re-read only when the state
 * file changed. Throws an Error naming the file when it is not a state this code wrote.
 */
export async function readRotatedKeys(keysDir: string): Promise<RotatedKey[]> {
  const path = join(keysDir, ROTATION_DIR, STATE_FILE);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  const mtime = info.mtime?.getTime() ?? 0;
  const ino = info.ino ?? 0;
  const hit = cache.get(path);
  if (hit && hit.ino === ino && hit.mtime === mtime && hit.size === info.size) return hit.keys;
  const keys = parseState(await Deno.readTextFile(path).catch(() => ""), path);
  cache.set(path, { ino, mtime, size: info.size, keys });
  return keys;
}

function parseState(text: string, path: string): RotatedKey[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`DKIM rotation state ${path} is not JSON`);
  }
  const keys = (data as { keys?: unknown })?.keys;
  const valid = Array.isArray(keys) &&
    keys.every((k) =>
      typeof k?.selector === "string" && SELECTOR.test(k.selector) &&
      Number.isSafeInteger(k.publishedAt) && typeof k.txt === "string"
    );
  if (!valid) throw new Error(`DKIM rotation state ${path} is not a list of keys`);
  return (keys as RotatedKey[]).map(({ selector, publishedAt, txt }) => ({
    selector,
    publishedAt,
    txt,
  }));
}

/** What a step did. */
export interface RotationStep {
  /** The key created, if one was. */
  created?: RotatedKey;
  /** Selectors withdrawn, their private keys deleted. */
  retired: string[];
}

/**
 * One rotation step at `now`: creates a key when one is due (or always, with `force`) and
 * withdraws the keys past retirement. Safe to run from several processes at once.
 */
export async function rotateDkimKeys(
  keysDir: string,
  times: RotationTimes,
  now: number,
  force = false,
): Promise<RotationStep> {
  const dir = join(keysDir, ROTATION_DIR);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const lock = await Deno.open(join(dir, LOCK_FILE), { create: true, write: true, mode: 0o600 });
  try {
    await lock.lock(true);
    const statePath = join(dir, STATE_FILE);
    const text = await Deno.readTextFile(statePath).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    });
    const keys = text === undefined ? [] : parseState(text, statePath);
    const phase = rotationPhase(keys, times, now);
    const kept = keys.filter((k) => !phase.expired.includes(k));
    let created: RotatedKey | undefined;
    if (force || phase.due) {
      const selector = newSelector(now, times.period, new Set(keys.map((k) => k.selector)));
      const pair = await createDkimKeyPair();
      await writeFileAtomic(rotatedKeyPath(keysDir, selector), pair.privatePem, 0o600);
      created = { selector, publishedAt: now, txt: dkimTxtRecord(pair.publicPem, "rsa-sha256") };
      kept.push(created);
    }
    if (created || phase.expired.length > 0) {
      await writeFileAtomic(statePath, JSON.stringify({ version: 1, keys: kept }, null, 2), 0o644);
    }
    await removeUnnamedKeys(dir, new Set(kept.map((k) => k.selector)));
    return { created, retired: phase.expired.map((k) => k.selector) };
  } finally {
    lock.close(); // releases the lock
  }
}

/** Deletes the private keys the state does not name: retired ones, or a crash's leftovers. */
async function removeUnnamedKeys(dir: string, named: ReadonlySet<string>): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const m = /^(.+)\.pem$/.exec(entry.name);
    if (!entry.isFile || !m || named.has(m[1])) continue;
    await Deno.remove(join(dir, entry.name)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
}
