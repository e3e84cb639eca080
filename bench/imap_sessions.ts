/**
 * The timed IMAP sessions of the benchmark, the same for every server (imap_client.ts): a
 * mailbox read (LOGIN, SELECT INBOX and one UID FETCH of every message, LOGOUT) and logins per
 * second (parallel clients each doing LOGIN + LOGOUT on a new connection, again and again).
 */
import { ImapClient } from "./imap_client.ts";
import { checkInterrupted } from "./util.ts";

/** The metadata a client lists a mailbox with. */
export const FETCH_METADATA = "UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)";
/** Every message's content, without setting \Seen (RFC 3501 §6.4.5). */
export const FETCH_BODIES = "UID FETCH 1:* BODY.PEEK[]";

/** One timed mailbox read. */
export interface Read {
  /** FETCH responses received. */
  messages: number;
  /** Octets of the literals in them (the message contents for BODY.PEEK[]). */
  octets: number;
  /** From connect to LOGOUT's completion. */
  seconds: number;
  /** Messages per second. */
  perSecond: number;
  /** Millions of literal octets per second. */
  megabytesPerSecond: number;
}

/** Where and as whom to log in (plain IMAP on 127.0.0.1). */
export interface ImapAccount {
  port: number;
  user: string;
  password: string;
}

/**
 * One session: connect, LOGIN, then SELECT INBOX and `fetch` pipelined, LOGOUT. Throws unless
 * `expect` FETCH responses came.
 */
export async function readMailbox(
  account: ImapAccount,
  fetch: string,
  expect: number,
): Promise<Read> {
  checkInterrupted();
  const started = performance.now();
  const client = await ImapClient.connect({ port: account.port });
  try {
    await client.login(account.user, account.password);
    const r = await client.selectAndFetch(fetch);
    await client.logout();
    const seconds = (performance.now() - started) / 1000;
    if (r.fetches !== expect) throw new Error(`${fetch}: ${r.fetches} messages, not ${expect}`);
    return {
      messages: r.fetches,
      octets: r.literalOctets,
      seconds,
      perSecond: r.fetches / seconds,
      megabytesPerSecond: r.literalOctets / 1e6 / seconds,
    };
  } finally {
    client.close();
  }
}

/** One login on a new connection: connect, LOGIN, LOGOUT. */
export async function loginOnce(account: ImapAccount): Promise<void> {
  const client = await ImapClient.connect({ port: account.port });
  try {
    await client.login(account.user, account.password);
    await client.logout();
  } finally {
    client.close();
  }
}

/** Logins per second, and how many were done in how long. */
export interface LoginRate {
  logins: number;
  seconds: number;
  perSecond: number;
}

/** Each account logs in once, all at the same time. */
export async function firstLogins(accounts: ImapAccount[]): Promise<LoginRate> {
  checkInterrupted();
  const started = performance.now();
  await Promise.all(accounts.map(loginOnce));
  const seconds = (performance.now() - started) / 1000;
  return { logins: accounts.length, seconds, perSecond: accounts.length / seconds };
}

/**
 * One client per account, in parallel, each logging in and out on a new connection again and
 * again until `seconds` have passed (a login under way then is finished and counted).
 */
export async function loginLoop(accounts: ImapAccount[], seconds: number): Promise<LoginRate> {
  checkInterrupted();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let logins = 0;
  await Promise.all(accounts.map(async (account) => {
    while (performance.now() < deadline) {
      await loginOnce(account);
      logins++;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  return { logins, seconds: elapsed, perSecond: logins / elapsed };
}
