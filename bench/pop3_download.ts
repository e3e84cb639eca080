/**
 * POP3 download throughput, fsmtp beside Dovecot in the same run: the same messages in one
 * mailbox on each (fsmtp filled over SMTP, so they are encrypted in its store; Dovecot's Maildir
 * filled with files), then rounds of one session per server, each login + LIST + RETR of every
 * message + QUIT, with the same client (pop3_client.ts). The first session per server is
 * reported apart: each builds what it keeps for later (Dovecot its index, fsmtp re-wraps every
 * message key); the rounds that follow alternate which server goes first.
 */
import { DovecotPeer, ensureDovecot } from "./dovecot_peer.ts";
import { FsmtpServer, PASSWORD } from "./fsmtp_server.ts";
import { capabilities, type Download, download, type Pop3Account } from "./pop3_client.ts";
import { DOMAIN } from "./smtp_inbound.ts";
import { sendMessages } from "./smtp_send.ts";
import { checkInterrupted, sleep } from "./util.ts";

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
  /** The timed repeat downloads, in order. */
  runs: Download[];
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
  name: "fsmtp" | "Dovecot";
  account: Pop3Account;
  first?: Download;
  runs: Download[];
  failed: boolean;
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
  const stopAll = async () => {
    await fsmtp?.stop();
    await fsmtp?.cleanup();
    await dovecot?.stop();
    await dovecot?.cleanup();
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
        runs: [],
        failed: false,
      });
    } catch (e) {
      fail("Dovecot", e);
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

    const session = async (c: Contender, label: string): Promise<Download | undefined> => {
      if (c.failed) return undefined;
      try {
        checkInterrupted();
        const d = await download(c.account, result.window, messages.length);
        log(
          `  ${label} ${c.name.padEnd(7)} ${d.perSecond.toFixed(1)} msg/s ` +
            `(${d.messages} messages, ${d.octets} octets in ${d.seconds.toFixed(2)} s)`,
        );
        if (d.octets !== d.listedOctets) {
          log(`  ${c.name}: warning: LIST gave ${d.listedOctets} octets, RETR ${d.octets}`);
        }
        await sleep(100); // let the server release the maildrop before the next session
        return d;
      } catch (e) {
        c.failed = true;
        const server = c.name === "fsmtp"
          ? fsmtp?.output.text.split("\n").slice(-20).join("\n")
          : await dovecot?.logTail(20);
        fail(c.name, new Error(`${(e as Error).message}\nserver log tail:\n${server}`));
        return undefined;
      }
    };
    for (const c of contenders) c.first = await session(c, "first  ");
    for (let round = 1; round <= opts.rounds; round++) {
      const order = round % 2 === 1 ? contenders : [...contenders].reverse();
      for (const c of order) {
        const d = await session(c, `round ${round}`);
        if (d) c.runs.push(d);
      }
    }
    for (const c of contenders) {
      if (c.failed || !c.first || c.runs.length === 0) continue;
      const side: Pop3Side = {
        first: c.first,
        runs: c.runs,
        median: median(c.runs.map((r) => r.perSecond)),
        best: Math.max(...c.runs.map((r) => r.perSecond)),
        octetsPerMessage: c.runs[0].octets / c.runs[0].messages,
      };
      if (c.name === "fsmtp") result.fsmtp = side;
      else result.dovecot = side;
    }
    return result;
  } finally {
    // (Each server also stops on an interruption by itself: registerCleanup.)
    await stopAll();
  }
}
