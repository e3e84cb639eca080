/**
 * IMAP, fsmtp beside Dovecot and beside Dovecot with mail_crypt, in the same run, with the same
 * client (imap_client.ts) and the same messages: one INBOX to list (FLAGS INTERNALDATE
 * RFC822.SIZE ENVELOPE) and another to download (BODY.PEEK[]), each read first once and then in
 * rounds; logins per second (a first login per user, then a loop); imaptest's stress mode when
 * IMAPTEST names the binary. fsmtp gets its mail by SMTP, so every message is RSA-sealed as new
 * mail is and its first read pays the unwrap; Dovecot gets it by APPEND (as its LDA would save
 * it: indexed, and with mail_crypt encrypted under keys made beforehand).
 */
import { join } from "node:path";
import { DovecotPeer, ensureDovecot } from "./dovecot_peer.ts";
import { FsmtpServer, PASSWORD } from "./fsmtp_server.ts";
import { ImapClient } from "./imap_client.ts";
import {
  FETCH_BODIES,
  FETCH_METADATA,
  firstLogins,
  type ImapAccount,
  loginLoop,
  loginOnce,
  type LoginRate,
  type Read,
  readMailbox,
} from "./imap_sessions.ts";
import { stress, stressMbox, type StressTotals } from "./imap_stress.ts";
import { benchMessage } from "./pop3_download.ts";
import { DOMAIN } from "./smtp_inbound.ts";
import { sendMessages } from "./smtp_send.ts";
import { checkInterrupted, mustRun, runProgram, sleep } from "./util.ts";

/** The three servers, in the order they are printed. */
export const SIDES = ["fsmtp", "Dovecot", "mail_crypt"] as const;
/** One of the servers. */
export type SideName = typeof SIDES[number];

const SENDER = "sender@remote.example";
/** The INBOX that is listed (ENVELOPE) first, then in rounds. */
const LISTED = `reader@${DOMAIN}`;
/** The INBOX that is downloaded (BODY.PEEK[]): its first read is a download too. */
const DOWNLOADED = `download@${DOMAIN}`;
/** A word of every message's body (benchMessage), to look for in Dovecot's files. */
const BODY_WORD = "benchmark";

/** What one server achieved; a figure it failed is missing. */
export interface ImapSide {
  /** The first listing after delivery. */
  listFirst?: Read;
  /** The median msg/s of the repeated listings. */
  listRepeat?: number;
  /** The first download after delivery. */
  bodyFirst?: Read;
  /** The median MB/s of the repeated downloads. */
  bodyRepeat?: number;
  /** Each login user once, all at once (fsmtp: each pays its key derivation). */
  firstLogins?: LoginRate;
  /** The login loop (fsmtp: its login cache skips the key derivation). */
  logins?: LoginRate;
  stress?: StressTotals;
}

/** The comparison; failures are in `errors`, remarks (encryption checks) in `notes`. */
export interface ImapComparison {
  messages: number;
  rounds: number;
  loginClients: number;
  loginSeconds: number;
  /** imaptest's settings, or why it did not run. */
  stressSettings: string;
  sides: Partial<Record<SideName, ImapSide>>;
  notes: string[];
  errors: string[];
}

/** Options of a comparison. */
export interface ImapOptions {
  messages: number;
  /** Octets of each message as sent. */
  size: number;
  rounds: number;
  /** Parallel login clients, each with its own user (also imaptest's users and clients). */
  loginClients: number;
  loginSeconds: number;
  /** imaptest's run time. */
  stressSeconds: number;
  /** The imaptest binary, or undefined to skip the stress figure. */
  imaptest: string | undefined;
  log: (line: string) => void;
}

interface Contender {
  name: SideName;
  port: number;
  side: ImapSide;
  failed: boolean;
  logTail: () => Promise<string>;
}

/**
 * The Return-Path: and Received: an MTA adds at final delivery, for Dovecot's copies: about
 * what fsmtp adds to its copies, so that both serve about the same octets.
 */
function traceHeaders(n: number, to: string): string {
  return `Return-Path: <${SENDER}>\r\n` +
    "Received: from client.remote.example ([127.0.0.1])\r\n" +
    "\tby mx.bench.example (bench node-1) with ESMTP\r\n" +
    `\tid ${(0x100000000000 + n).toString(16).toUpperCase()} for <${to}>;\r\n` +
    "\tThu, 26 Nov 2026 12:00:00 +0000\r\n";
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Checks that no message file of `maildir` holds `word` (mail_crypt encrypts the files; the
 * index cache may keep headers in clear, as DESIGN.md says, and is not a message file).
 */
async function encryptedFiles(maildir: string, word: string): Promise<string> {
  let files = 0;
  let crypted = 0;
  const needle = new TextEncoder().encode(word);
  for (const sub of ["cur", "new"]) {
    for await (const entry of Deno.readDir(join(maildir, sub))) {
      const bytes = await Deno.readFile(join(maildir, sub, entry.name));
      files++;
      if (new TextDecoder().decode(bytes.subarray(0, 7)) === "CRYPTED") crypted++;
      if (indexOf(bytes, needle) >= 0) {
        throw new Error(`mail_crypt: "${word}" in clear in ${join(maildir, sub, entry.name)}`);
      }
    }
  }
  if (files === 0 || crypted !== files) {
    throw new Error(`mail_crypt: ${crypted} of ${files} message files start with CRYPTED`);
  }
  return `${files} message files in ${maildir}: all start with Dovecot's CRYPTED header, ` +
    `none holds "${word}"`;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  for (let i = haystack.indexOf(needle[0]); i >= 0; i = haystack.indexOf(needle[0], i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/** Runs the comparison; never throws for one side's failure (see `errors`). */
export async function imapComparison(opts: ImapOptions): Promise<ImapComparison> {
  const { log } = opts;
  const result: ImapComparison = {
    messages: opts.messages,
    rounds: opts.rounds,
    loginClients: opts.loginClients,
    loginSeconds: opts.loginSeconds,
    stressSettings: "skipped (set IMAPTEST=/path/to/imaptest)",
    sides: {},
    notes: [],
    errors: [],
  };
  const loginUsers = Array.from({ length: opts.loginClients }, (_, i) => `bench${i + 1}@${DOMAIN}`);
  const mail = (to: string) =>
    Array.from({ length: opts.messages }, (_, i) => benchMessage(i + 1, opts.size))
      .map((m) => m.replace(`To: <reader@${DOMAIN}>`, `To: <${to}>`));
  const contenders: Contender[] = [];
  let fsmtp: FsmtpServer | undefined;
  const dovecots: DovecotPeer[] = [];
  const fail = (name: SideName, e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    result.errors.push(`${name}: ${message}`);
    log(`  ${name} FAILED: ${message.split("\n")[0]}`);
  };
  try {
    try {
      fsmtp = await FsmtpServer.start(DOMAIN, [LISTED, DOWNLOADED, ...loginUsers], { imap: true });
      if (!fsmtp.imapPorts) throw new Error("fsmtp was started without IMAP");
      const started = performance.now();
      for (const to of [LISTED, DOWNLOADED]) {
        await sendMessages(fsmtp.port, { from: SENDER, to }, mail(to));
      }
      log(
        `  fsmtp: 2 × ${opts.messages} messages delivered over SMTP in ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      const server = fsmtp;
      contenders.push({
        name: "fsmtp",
        port: fsmtp.imapPorts.imap,
        side: {},
        failed: false,
        logTail: () => Promise.resolve(server.output.text.split("\n").slice(-20).join("\n")),
      });
    } catch (e) {
      fail("fsmtp", e);
    }
    for (const name of ["Dovecot", "mail_crypt"] as const) {
      try {
        checkInterrupted();
        await ensureDovecot(true);
        const accounts = [LISTED, DOWNLOADED, ...loginUsers].map((user) => ({
          user,
          password: PASSWORD,
        }));
        const mailCrypt = name === "mail_crypt";
        const peer = await DovecotPeer.start(accounts[0], [], {
          imap: true,
          mailCrypt,
          more: accounts.slice(1),
        });
        dovecots.push(peer);
        if (peer.imapPort === undefined) throw new Error("Dovecot was started without IMAP");
        const started = performance.now();
        if (mailCrypt) { for (const a of accounts) await peer.generateKeys(a); }
        for (const to of [LISTED, DOWNLOADED]) {
          const client = await ImapClient.connect({ port: peer.imapPort });
          await client.login(to, PASSWORD);
          await client.appendAll("INBOX", mail(to).map((m, i) => traceHeaders(i + 1, to) + m));
          await client.logout();
        }
        log(
          `  ${name}: ${mailCrypt ? "user keys made (doveadm), " : ""}2 × ${opts.messages} ` +
            `messages APPENDed in ${((performance.now() - started) / 1000).toFixed(1)} s`,
        );
        if (mailCrypt) {
          result.notes.push(await encryptedFiles(peer.maildirOf(LISTED), BODY_WORD));
          result.notes.push(await keyNeedsPassword(peer));
        }
        contenders.push({
          name,
          port: peer.imapPort,
          side: {},
          failed: false,
          logTail: () => peer.logTail(20),
        });
      } catch (e) {
        fail(name, e);
      }
    }
    for (const note of result.notes) log(`  ${note}`);

    /** Runs `fn` for one contender; a failure marks it failed and is reported once. */
    const step = async <T>(c: Contender, fn: () => Promise<T>): Promise<T | undefined> => {
      if (c.failed) return undefined;
      try {
        checkInterrupted();
        const value = await fn();
        await sleep(100); // let the server close the session before the next one
        return value;
      } catch (e) {
        c.failed = true;
        fail(c.name, new Error(`${(e as Error).message}\nserver log tail:\n${await c.logTail()}`));
        return undefined;
      }
    };
    const account = (c: Contender, user: string): ImapAccount => ({
      port: c.port,
      user,
      password: PASSWORD,
    });
    const show = (label: string, c: Contender, r: Read, what: "msg" | "MB") =>
      log(
        `  ${label} ${c.name.padEnd(10)} ` +
          (what === "msg"
            ? `${r.perSecond.toFixed(1)} msg/s`
            : `${r.megabytesPerSecond.toFixed(2)} MB/s`) +
          ` (${r.messages} messages, ${r.octets} literal octets in ${r.seconds.toFixed(2)} s)`,
      );

    log(`  first login of each of ${loginUsers.length} users, all at once:`);
    for (const c of contenders) {
      c.side.firstLogins = await step(c, () => firstLogins(loginUsers.map((u) => account(c, u))));
      const r = c.side.firstLogins;
      if (r) log(`    ${c.name.padEnd(10)} ${r.perSecond.toFixed(1)} logins/s`);
    }
    // The two readers log in once before their first reads: those time the reading, and the
    // first login's key derivation is the figure above.
    for (const c of contenders) {
      await step(c, async () => {
        for (const u of [LISTED, DOWNLOADED]) await loginOnce(account(c, u));
      });
    }
    for (const c of contenders) {
      c.side.listFirst = await step(
        c,
        () => readMailbox(account(c, LISTED), FETCH_METADATA, opts.messages),
      );
      if (c.side.listFirst) show("list first   ", c, c.side.listFirst, "msg");
    }
    for (const c of contenders) {
      c.side.bodyFirst = await step(
        c,
        () => readMailbox(account(c, DOWNLOADED), FETCH_BODIES, opts.messages),
      );
      if (c.side.bodyFirst) show("body first   ", c, c.side.bodyFirst, "MB");
    }
    const lists = new Map<SideName, number[]>();
    const bodies = new Map<SideName, number[]>();
    for (let round = 1; round <= opts.rounds; round++) {
      // Alternate the order, so no server always runs right after another's burst.
      const order = round % 2 === 1 ? contenders : [...contenders].reverse();
      for (const c of order) {
        const list = await step(
          c,
          () => readMailbox(account(c, LISTED), FETCH_METADATA, opts.messages),
        );
        if (list) {
          show(`list round ${round}`, c, list, "msg");
          lists.set(c.name, [...lists.get(c.name) ?? [], list.perSecond]);
        }
        const body = await step(
          c,
          () => readMailbox(account(c, DOWNLOADED), FETCH_BODIES, opts.messages),
        );
        if (body) {
          show(`body round ${round}`, c, body, "MB");
          bodies.set(c.name, [...bodies.get(c.name) ?? [], body.megabytesPerSecond]);
        }
      }
    }
    for (const c of contenders) {
      if (c.failed) continue;
      c.side.listRepeat = median(lists.get(c.name) ?? []);
      c.side.bodyRepeat = median(bodies.get(c.name) ?? []);
    }

    log(
      `  logins: ${loginUsers.length} clients, each LOGIN + LOGOUT on a new connection, ` +
        `for ${opts.loginSeconds} s:`,
    );
    for (const c of contenders) {
      c.side.logins = await step(
        c,
        () => loginLoop(loginUsers.map((u) => account(c, u)), opts.loginSeconds),
      );
      const r = c.side.logins;
      if (r) log(`    ${c.name.padEnd(10)} ${r.perSecond.toFixed(1)} logins/s (${r.logins})`);
    }

    if (opts.imaptest) {
      const mbox = await stressMbox(fsmtp?.dir ?? dovecots[0]?.dir ?? "/tmp");
      result.stressSettings = `users=${loginUsers.length} clients=${loginUsers.length} ` +
        `secs=${opts.stressSeconds} seed=1 mbox=${mbox}`;
      log(`  imaptest stress: ${result.stressSettings}`);
      for (const c of contenders) {
        c.side.stress = await step(c, () =>
          stress({
            binary: opts.imaptest as string,
            port: c.port,
            userTemplate: `bench%d@${DOMAIN}`,
            users: loginUsers.length,
            password: PASSWORD,
            clients: loginUsers.length,
            secs: opts.stressSeconds,
            mbox,
          }));
        const s = c.side.stress;
        if (!s) continue;
        log(
          `    ${c.name.padEnd(10)} ${s.sessionsPerSecond.toFixed(1)} sessions/s, ` +
            `${s.commandsPerSecond.toFixed(0)} commands/s, ${s.errors} errors`,
        );
        for (const line of s.errorSample) log(`      ${line}`);
        if (s.errors > 0) {
          result.errors.push(`${c.name}: imaptest stress printed ${s.errors} Error: lines`);
        }
      }
    } else {
      log(`  imaptest stress: ${result.stressSettings}`);
    }
    for (const c of contenders) if (!c.failed) result.sides[c.name] = c.side;
    return result;
  } finally {
    // (Each server also stops on an interruption by itself: registerCleanup.)
    await fsmtp?.stop();
    await fsmtp?.cleanup();
    for (const d of dovecots) {
      await d.stop();
      await d.cleanup();
    }
  }
}

/**
 * Shows that mail_crypt's private key is of no use without the password: `doveadm fetch` as
 * root, without it, must fail to read the body.
 */
async function keyNeedsPassword(peer: DovecotPeer): Promise<string> {
  const args = [
    "-c",
    peer.configFile,
    "fetch",
    "-u",
    LISTED,
    "text",
    "mailbox",
    "INBOX",
    "uid",
    "1",
  ];
  const r = await runProgram("doveadm", args);
  if (r.code === 0 && r.stdout.includes(BODY_WORD)) {
    throw new Error("mail_crypt: doveadm read a message without the user's password");
  }
  // With the password, the same command reads it: the key pair is the one in use.
  await mustRun("doveadm", [
    "-o",
    `plugin/mail_crypt_private_password=${PASSWORD}`,
    ...args,
  ]).then((out) => {
    if (!out.includes(BODY_WORD)) throw new Error("mail_crypt: doveadm fetch with the password");
  });
  const why = r.stderr.trim().split("\n")[0] ?? "";
  return `mail_crypt: doveadm fetch without the password fails (exit ${r.code}: ${why}); ` +
    "with it, the body reads back";
}
