/**
 * POP3 download throughput, fsmtp beside Dovecot and beside Dovecot with mail_crypt in the same
 * run: the same messages in one mailbox on each (fsmtp filled over SMTP, so they are encrypted
 * in its store; Dovecot's Maildir filled with files; the mail_crypt Dovecot filled by IMAP
 * APPEND, so each message is encrypted under a key sealed with the user's password-protected
 * key, see dovecot_peer.ts), then rounds of one session per server, each login + LIST + RETR of
 * every message + QUIT, with the same client (pop3_client.ts). The first session per server is
 * reported apart: each builds what it keeps for later (Dovecot its index, fsmtp re-wraps every
 * message key); the rounds that follow rotate which server goes first. Each server's CPU time
 * (its whole process tree) is measured around every session.
 */
import { DovecotPeer, ensureDovecot } from "./dovecot_peer.ts";
import { ImapClient } from "./imap_client.ts";
import { FsmtpServer, PASSWORD } from "./fsmtp_server.ts";
import { capabilities, type Download, download, type Pop3Account } from "./pop3_client.ts";
import { DOMAIN } from "./smtp_inbound.ts";
import { sendMessages } from "./smtp_send.ts";
import { checkInterrupted, sleep, treeCpuSeconds } from "./util.ts";

/** RETR commands in flight at once when both servers advertise PIPELINING. */
export const PIPELINE_WINDOW = 32;
const SENDER = "sender@remote.example";
const READER = `reader@${DOMAIN}`;

/** What one server achieved. */
export interface Pop3Side {
  /**
   * The first download after delivery: Dovecot builds its index, fsmtp re-wraps each message's
   * RSA-sealed key under the user's mailbox key (mailbox_reader.ts). One run only.
   */
  first: Download;
  /** Server CPU milliseconds per 1,000 messages of the first download. */
  firstCpuMs: number;
  /** The timed repeat downloads, in order. */
  runs: Download[];
  /**
   * Server CPU milliseconds per 1,000 messages of the repeat downloads, all of them together
   * (/proc counts in 10 ms ticks: one download alone is too coarse).
   */
  repeatCpuMs: number;
  /** Median messages per second over the runs. */
  median: number;
  best: number;
  /** Octets retrieved per message (with the trace headers each server's copy has). */
  octetsPerMessage: number;
}

/** The comparison; a side that failed is missing and its error is in `errors`. */
export interface Pop3Comparison {
  messages: number;
  rounds: number;
  /** RETR commands in flight (1: one at a time). */
  window: number;
  fsmtp?: Pop3Side;
  dovecot?: Pop3Side;
  /** Dovecot with its mail_crypt plugin, keys protected by the login password. */
  mailCrypt?: Pop3Side;
  errors: string[];
}

/** Options of a comparison. */
export interface Pop3Options {
  messages: number;
  /** Octets of each message as sent (before the receiving MTA's trace headers). */
  size: number;
  rounds: number;
  /** Progress lines. */
  log: (line: string) => void;
}

/** A deterministic text message of exactly `size` octets (CRLF line ends), number `n`. */
export function benchMessage(n: number, size: number): string {
  const head = [
    `From: Bench Sender <${SENDER}>`,
    `To: <${READER}>`,
    `Subject: POP3 benchmark message ${n}`,
    "Date: Thu, 26 Nov 2026 12:00:00 +0000",
    `Message-ID: <${n}.pop3-bench@remote.example>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    "",
  ].join("\r\n");
  const words = ["mail", "server", "pop3", "message", "benchmark", "octet", "line", "text", "box"];
  let seed = n * 2654435761 >>> 0;
  let body = "";
  let line = "";
  while (head.length + body.length < size) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const word = words[seed % words.length];
    if (line.length + word.length + 1 > 72) {
      body += line + "\r\n";
      line = "";
    }
    line += (line === "" ? "" : " ") + word;
  }
  // Cut to the size, ending the last line with CRLF.
  const text = (head + body).slice(0, size - 2).replace(/\r$/, "x");
  return text + "\r\n";
}

/**
 * The Return-Path: and Received: an MTA adds at final delivery, for Dovecot's copy: the shape
 * and length of what fsmtp adds to its copy, so that both serve the same octets.
 */
function traceHeaders(n: number): string {
  return `Return-Path: <${SENDER}>\r\n` +
    "Received: from client.remote.example ([127.0.0.1])\r\n" +
    "\tby mx.bench.example (bench node-1) with ESMTP\r\n" +
    `\tid ${(0x100000000000 + n).toString(16).toUpperCase()} for <${READER}>;\r\n` +
    "\tThu, 26 Nov 2026 12:00:00 +0000\r\n";
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

interface Contender {
  name: "fsmtp" | "Dovecot" | "mail_crypt";
  account: Pop3Account;
  /** The server's root process, for its CPU time. */
  pid: number;
  first?: Timed;
  runs: Timed[];
  failed: boolean;
}

/** A download with the server CPU seconds it took. */
interface Timed {
  download: Download;
  cpuSeconds: number;
}

/** Runs the comparison; never throws for one side's failure (see `errors`). */
export async function pop3Download(opts: Pop3Options): Promise<Pop3Comparison> {
  const { log } = opts;
  const result: Pop3Comparison = {
    messages: opts.messages,
    rounds: opts.rounds,
    window: 1,
    errors: [],
  };
  const messages = Array.from({ length: opts.messages }, (_, i) => benchMessage(i + 1, opts.size));
  const contenders: Contender[] = [];
  let fsmtp: FsmtpServer | undefined;
  let dovecot: DovecotPeer | undefined;
  let mailCrypt: DovecotPeer | undefined;
  const stopAll = async () => {
    await fsmtp?.stop();
    await fsmtp?.cleanup();
    for (const peer of [dovecot, mailCrypt]) {
      await peer?.stop();
      await peer?.cleanup();
    }
  };
  const fail = (name: string, e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    result.errors.push(`${name}: ${message}`);
    log(`  ${name} FAILED: ${message.split("\n")[0]}`);
  };
  try {
    try {
      // The inbound checks (SPF, DMARC, …) only add DNS lookups to the fill, and headers.
      fsmtp = await FsmtpServer.start(DOMAIN, [READER], { pop3: true, inboundChecks: false });
      const started = performance.now();
      await sendMessages(fsmtp.port, { from: SENDER, to: READER }, messages);
      log(
        `  fsmtp: ${messages.length} messages sent over SMTP in ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      if (fsmtp.pop3Port === undefined) throw new Error("fsmtp was started without POP3");
      contenders.push({
        name: "fsmtp",
        account: { port: fsmtp.pop3Port, user: READER, password: PASSWORD },
        pid: fsmtp.pid,
        runs: [],
        failed: false,
      });
    } catch (e) {
      fail("fsmtp", e);
    }
    try {
      checkInterrupted();
      await ensureDovecot();
      const account = { user: READER, password: PASSWORD };
      dovecot = await DovecotPeer.start(account, messages.map((m, i) => traceHeaders(i + 1) + m));
      log(`  Dovecot: ${messages.length} messages written to ${dovecot.maildir}`);
      contenders.push({
        name: "Dovecot",
        account: { port: dovecot.port, ...account },
        pid: dovecot.pid,
        runs: [],
        failed: false,
      });
    } catch (e) {
      fail("Dovecot", e);
    }
    try {
      checkInterrupted();
      await ensureDovecot(true);
      const account = { user: READER, password: PASSWORD };
      // IMAP only to fill it: mail_crypt encrypts what is saved through Dovecot.
      mailCrypt = await DovecotPeer.start(account, [], { imap: true, mailCrypt: true });
      const started = performance.now();
      await mailCrypt.generateKeys(account);
      const client = await ImapClient.connect({ port: mailCrypt.imapPort! });
      await client.login(READER, PASSWORD);
      await client.appendAll("INBOX", messages.map((m, i) => traceHeaders(i + 1) + m));
      await client.logout();
      log(
        `  mail_crypt: user key made (doveadm), ${messages.length} messages APPENDed in ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      contenders.push({
        name: "mail_crypt",
        account: { port: mailCrypt.port, ...account },
        pid: mailCrypt.pid,
        runs: [],
        failed: false,
      });
    } catch (e) {
      fail("mail_crypt", e);
    }

    // The same client for both: pipelined only when every server advertises PIPELINING.
    const pipelining = await Promise.all(
      contenders.map(async (c) => (await capabilities(c.account.port)).includes("PIPELINING")),
    ).catch(() => [false]);
    result.window = pipelining.every((p) => p) ? PIPELINE_WINDOW : 1;
    log(
      `  client: USER/PASS, LIST, RETR 1..${messages.length} ` +
        (result.window > 1 ? `pipelined, ${result.window} in flight` : "one at a time") +
        ", QUIT",
    );

    const session = async (c: Contender, label: string): Promise<Timed | undefined> => {
      if (c.failed) return undefined;
      try {
        checkInterrupted();
        const cpu = await treeCpuSeconds(c.pid);
        const d = await download(c.account, result.window, messages.length);
        // Work the server does after QUIT (fsmtp's re-wrap writes) belongs to the session.
        await sleep(100);
        const cpuSeconds = await treeCpuSeconds(c.pid) - cpu;
        log(
          `  ${label} ${c.name.padEnd(10)} ${d.perSecond.toFixed(1)} msg/s ` +
            `(${d.messages} messages, ${d.octets} octets in ${d.seconds.toFixed(2)} s; ` +
            `server CPU ${(cpuSeconds * 1000).toFixed(0)} ms)`,
        );
        if (d.octets !== d.listedOctets) {
          log(`  ${c.name}: warning: LIST gave ${d.listedOctets} octets, RETR ${d.octets}`);
        }
        return { download: d, cpuSeconds };
      } catch (e) {
        c.failed = true;
        const server = c.name === "fsmtp"
          ? fsmtp?.output.text.split("\n").slice(-20).join("\n")
          : await (c.name === "Dovecot" ? dovecot : mailCrypt)?.logTail(20);
        fail(c.name, new Error(`${(e as Error).message}\nserver log tail:\n${server}`));
        return undefined;
      }
    };
    for (const c of contenders) c.first = await session(c, "first  ");
    for (let round = 1; round <= opts.rounds; round++) {
      const shift = (round - 1) % contenders.length;
      const order = [...contenders.slice(shift), ...contenders.slice(0, shift)];
      for (const c of order) {
        const d = await session(c, `round ${round}`);
        if (d) c.runs.push(d);
      }
    }
    for (const c of contenders) {
      if (c.failed || !c.first || c.runs.length === 0) continue;
      const runs = c.runs.map((r) => r.download);
      const perThousand = (t: Timed) => t.cpuSeconds * 1e6 / t.download.messages;
      const side: Pop3Side = {
        first: c.first.download,
        firstCpuMs: perThousand(c.first),
        runs,
        repeatCpuMs: perThousand({
          download: { ...runs[0], messages: runs.reduce((n, r) => n + r.messages, 0) },
          cpuSeconds: c.runs.reduce((n, r) => n + r.cpuSeconds, 0),
        }),
        median: median(runs.map((r) => r.perSecond)),
        best: Math.max(...runs.map((r) => r.perSecond)),
        octetsPerMessage: runs[0].octets / runs[0].messages,
      };
      if (c.name === "fsmtp") result.fsmtp = side;
      else if (c.name === "Dovecot") result.dovecot = side;
      else result.mailCrypt = side;
    }
    return result;
  } finally {
    // (Each server also stops on an interruption by itself: registerCleanup.)
    await stopAll();
  }
}
