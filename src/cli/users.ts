/** `--adduser`, `--deluser`, `--passwd`, `--users`. */
import { loadConfig } from "../config/load_config.ts";
import {
  changePassword as rewrapForPassword,
  createUserKeys,
  resetPasswordWithRecovery,
} from "../crypto/user_keys.ts";
import { StoreError } from "../store/mail_store.ts";
import { openStore } from "./setup.ts";
import { passwordProblem, promptNewPassword, promptPassword, StdinLines } from "./read_password.ts";

interface Common {
  config: string | undefined;
}

/**
 * Lower-cases and checks a user address: its domain must be one of `domains`, and its local
 * part plain (no `%`, `!`, quotes: forms that once meant routing, RFC 5321 Appendix C).
 */
export function checkUserAddress(address: string, domains: string[]): string {
  const lower = address.trim().toLowerCase();
  const m = /^([a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*)@([a-z0-9.-]+)$/.exec(lower);
  if (!m) {
    throw new Error(
      `"${address}" is not a plain address like alice@example.org (letters, digits, . _ + -)`,
    );
  }
  if (!domains.includes(m[2])) {
    throw new Error(
      `${m[2]} is not a local domain; add it to "domains" in the config (now: ${
        domains.join(", ")
      })`,
    );
  }
  return lower;
}

/** Adds a user; prints the recovery key once when asked for. */
export async function addUser(
  address: string,
  opts: Common & { stdin: boolean; recovery?: boolean },
): Promise<number> {
  const { config } = loadConfig(opts.config);
  const user = checkUserAddress(address, config.domains);
  const password = opts.stdin ? await new StdinLines().next("password") : await promptNewPassword();
  const problem = passwordProblem(password);
  if (problem) throw new Error(problem);
  const store = await openStore(config);
  try {
    if (await store.getUser(user)) {
      console.error(`fsmtp: user ${user} exists already`);
      return 1;
    }
    const { keys, recoveryKey } = await createUserKeys(password, { recovery: opts.recovery });
    await store.createUser({ address: user, keys, createdAt: Date.now() });
    console.log(`added ${user}`);
    if (recoveryKey) {
      console.log(
        `recovery key (shown once; keep it offline — it opens this user's mail if the password ` +
          `is lost):\n  ${recoveryKey}`,
      );
    }
    return 0;
  } catch (err) {
    if (err instanceof StoreError && err.code === "exists") {
      console.error(`fsmtp: user ${user} exists already`);
      return 1;
    }
    throw err;
  } finally {
    await store.close();
  }
}

/** Deletes a user and all their mail. */
export async function deleteUser(address: string, opts: Common): Promise<number> {
  const { config } = loadConfig(opts.config);
  const store = await openStore(config);
  try {
    const user = address.trim().toLowerCase();
    if (!(await store.deleteUser(user))) {
      console.error(`fsmtp: no user ${user}`);
      return 1;
    }
    console.log(`deleted ${user} and all their mail`);
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * Changes a password. The current password (or the recovery key) is needed: it is what
 * unlocks the private key that is re-wrapped under the new one. No message is re-encrypted.
 */
export async function changePassword(
  address: string,
  opts: Common & { stdin: boolean; recovery?: boolean },
): Promise<number> {
  const { config } = loadConfig(opts.config);
  const user = address.trim().toLowerCase();
  const lines = opts.stdin ? new StdinLines() : undefined;
  const what = opts.recovery ? "recovery key" : "current password";
  const store = await openStore(config);
  try {
    const record = await store.getUser(user);
    if (!record) {
      console.error(`fsmtp: no user ${user}`);
      return 1;
    }
    const secret = lines ? await lines.next(what) : await promptPassword(`${capital(what)}: `);
    const password = lines ? await lines.next("new password") : await promptNewPassword();
    const problem = passwordProblem(password);
    if (problem) throw new Error(problem);
    const keys = opts.recovery
      ? await resetPasswordWithRecovery(record.keys, secret, password)
      : await rewrapForPassword(record.keys, secret, password);
    if (!keys) {
      console.error(`fsmtp: wrong ${what} for ${user}; nothing was changed`);
      return 1;
    }
    await store.updateUserKeys(user, keys);
    console.log(`password of ${user} changed`);
    return 0;
  } finally {
    await store.close();
  }
}

/** Lists users, one per line. */
export async function listUsers(opts: Common): Promise<number> {
  const { config } = loadConfig(opts.config);
  const store = await openStore(config);
  try {
    for (const user of await store.listUsers()) console.log(user);
    return 0;
  } finally {
    await store.close();
  }
}

function capital(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}
