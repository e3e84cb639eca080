/**
 * Outbound throughput (issue 5): fsmtp and Postfix each relay the same number of ~4 KiB
 * messages to one `smtp-sink` on loopback, in the same run; each side's time runs from the first
 * message handed over until the sink has counted all of its messages (end-to-end relaying).
 *
 * - Postfix: fed by smtp-source (20 sessions) to a non-local domain, relayed through
 *   `relayhost = [127.0.0.1]:<sink>` with `default_destination_concurrency_limit = 20`.
 * - Postfix + OpenDKIM: the same, with OpenDKIM as smtpd's milter signing every message
 *   (rsa-sha256, 2048 bits, relaxed/relaxed), the usual way Postfix DKIM-signs; skipped, saying
 *   so, when Debian's opendkim is not installed.
 * - fsmtp: fed through submission with AUTH PLAIN (20 sessions, as a user's mail client would),
 *   DKIM-signs each message (rsa-sha256), queues it durably (and files the sender's sealed
 *   "Sent" copy), and its queue runner delivers by MX: dnsmasq on loopback answers
 *   MX sink.example → mx.sink.example → 127.0.0.1, and `[outbound] port` is the sink's.
 *
 * Afterwards the sink's copies are checked: every message of each side arrived, and every one of
 * fsmtp's (and of Postfix + OpenDKIM's) carries a DKIM signature that verifies against the
 * signer's public key.
 */
import { join } from "node:path";
import { DnsServer } from "../tests/helpers/dns_server.ts";
import { checkDkim, type DkimCheck } from "./dkim_check.ts";
import { FsmtpServer, PASSWORD } from "./fsmtp_server.ts";
import { OpenDkimPeer } from "./opendkim_peer.ts";
import { PostfixPeer } from "./postfix_peer.ts";
import { SmtpSink } from "./smtp_sink.ts";
import { startSmtpSource } from "./smtp_source.ts";
import { sendMessages } from "./smtp_send.ts";
import { checkInterrupted, registerCleanup, treeCpuSeconds } from "./util.ts";

const SINK_DOMAIN = "sink.example";
const RECIPIENT = `to@${SINK_DOMAIN}`;
/** Payload octets per message (smtp-source `-l`; fsmtp's messages are as large in all). */
export const OUTBOUND_SIZE = 4096;
/** Client sessions feeding each MTA at once. */
export const OUTBOUND_SESSIONS = 20;
const FSMTP_DOMAIN = "bench.example";
const FSMTP_USER = `sender@${FSMTP_DOMAIN}`;
const POSTFIX_DOMAIN = "pf.bench.example";
const POSTFIX_SENDER = `sender@${POSTFIX_DOMAIN}`;
const OPENDKIM_DOMAIN = "dkim.pf.bench.example";
const OPENDKIM_SENDER = `sender@${OPENDKIM_DOMAIN}`;

/** One side's figures. */
export interface OutboundSide {
  messages: number;
  /** From the first message handed over until the sink counted the last. */
  seconds: number;
  perSecond: number;
  /** From the first message handed over until the client had the last 250 (all queued). */
  acceptedSeconds: number;
  /** CPU seconds of the MTA's processes over `seconds` (not the client's, not the sink's). */
  cpuSeconds: number;
}

/** Every side, and what the sink's copies showed. */
export interface OutboundComparison {
  postfix: OutboundSide;
  /** Postfix signing through OpenDKIM; a string says why it was skipped. */
  postfixDkim: OutboundSide | string;
  fsmtp: OutboundSide;
  /** fsmtp's signatures. */
  dkim: DkimCheck;
  /** Postfix + OpenDKIM's signatures, when that side ran. */
  postfixDkimCheck?: DkimCheck;
}

/** A ~4 KiB message from fsmtp's user (fsmtp refuses other From: addresses). */
function message(i: number): string {
  const head = `From: <${FSMTP_USER}>\r\nTo: <${RECIPIENT}>\r\nSubject: outbound ${i}\r\n` +
    `Message-ID: <outbound.${i}@${FSMTP_DOMAIN}>\r\n\r\n`;
  const line = "x".repeat(70) + "\r\n";
  return head + line.repeat(Math.round((OUTBOUND_SIZE - head.length) / line.length));
}

/**
 * Times one side: `feed` hands the messages over and resolves when the client is done; `pid`
 * is the MTA's root process, for its CPU time.
 */
async function timeSide(
  sink: SmtpSink,
  messages: number,
  pids: number[],
  feed: () => Promise<void>,
  diagnose: () => Promise<string> | string,
): Promise<OutboundSide> {
  const target = sink.count + messages;
  const cpu = async () => (await Promise.all(pids.map(treeCpuSeconds))).reduce((a, b) => a + b);
  const cpuBefore = await cpu();
  const started = performance.now();
  await feed();
  const acceptedSeconds = (performance.now() - started) / 1000;
  await sink.waitForCount(target, diagnose);
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = await cpu() - cpuBefore;
  return { messages, seconds, perSecond: messages / seconds, acceptedSeconds, cpuSeconds };
}

/** Postfix relaying smtp-source's mail from `sender`, through `milter` when given. */
async function postfixSide(
  sink: SmtpSink,
  messages: number,
  sender: string,
  milter?: OpenDkimPeer,
): Promise<OutboundSide> {
  const postfix = await PostfixPeer.start({
    domain: POSTFIX_DOMAIN,
    users: [],
    relayHost: `127.0.0.1:${sink.port}`,
    milter: milter?.milter,
  });
  try {
    const master = Number(
      (await Deno.readTextFile(join(postfix.dir, "queue", "pid", "master.pid"))).trim(),
    );
    const pids = milter ? [master, milter.pid] : [master];
    return await timeSide(sink, messages, pids, async () => {
      const run = startSmtpSource(postfix.port, {
        sessions: OUTBOUND_SESSIONS,
        messages,
        size: OUTBOUND_SIZE,
        recipients: 1,
        from: sender,
        to: RECIPIENT,
      });
      const result = await run.done;
      if (result.code !== 0) throw new Error(`smtp-source failed: ${result.output}`);
    }, async () =>
      `Postfix log:\n${await postfix.logTail(15)}` +
      (milter ? `\nOpenDKIM:\n${milter.output.text.slice(-2000)}` : ""));
  } finally {
    await postfix.stop();
    await postfix.cleanup();
  }
}

/** Postfix signing through OpenDKIM, or why it was skipped. */
async function postfixDkimSide(
  sink: SmtpSink,
  messages: number,
): Promise<{ side: OutboundSide; publicPem: string } | string> {
  if (!(await OpenDkimPeer.available())) {
    return "skipped: opendkim is not installed (Debian package opendkim, opendkim-tools)";
  }
  const milter = await OpenDkimPeer.start(OPENDKIM_DOMAIN);
  try {
    const side = await postfixSide(sink, messages, OPENDKIM_SENDER, milter);
    return { side, publicPem: milter.publicPem };
  } finally {
    await milter.stop();
  }
}

async function fsmtpSide(
  sink: SmtpSink,
  dns: DnsServer,
  messages: number,
): Promise<{ side: OutboundSide; publicPem: string }> {
  const fsmtp = await FsmtpServer.start(FSMTP_DOMAIN, [FSMTP_USER], {
    submission: true,
    outbound: { port: sink.port, resolver: dns.address },
  });
  try {
    const bodies = Array.from({ length: messages }, (_, i) => message(i));
    const side = await timeSide(
      sink,
      messages,
      [fsmtp.pid],
      () =>
        sendMessages(
          fsmtp.submissionPort!,
          { from: FSMTP_USER, to: RECIPIENT },
          bodies,
          OUTBOUND_SESSIONS,
          { user: FSMTP_USER, password: PASSWORD },
        ),
      () => `fsmtp output:\n${fsmtp.output.text.split("\n").slice(-15).join("\n")}`,
    );
    // Created at first start; read before the folder goes.
    const publicPem = await Deno.readTextFile(join(fsmtp.dir, "keys", "dkim-public.pem"));
    return { side, publicPem };
  } finally {
    await fsmtp.stop();
    await fsmtp.cleanup();
  }
}

/** Checks that all `messages` from `sender` arrived, each signed by `domain`'s `publicPem`. */
async function checkSide(
  sink: SmtpSink,
  sender: string,
  messages: number,
  domain: string,
  publicPem: string,
): Promise<DkimCheck> {
  const got = (await sink.messages()).filter((m) => m.sender === sender);
  if (got.length !== messages) {
    throw new Error(`the sink holds ${got.length} messages from ${sender}, not ${messages}`);
  }
  const dkim = await checkDkim(got.map((m) => m.content), domain, publicPem);
  if (dkim.passed !== dkim.messages) {
    throw new Error(
      `only ${dkim.passed} of ${sender}'s ${dkim.messages} messages carry a valid DKIM ` +
        `signature of ${domain}: ${dkim.failures.join(" | ")}`,
    );
  }
  return dkim;
}

/**
 * Runs every side against one sink, Postfix first, then Postfix + OpenDKIM, then fsmtp, and
 * checks what the sink got.
 */
export async function outboundComparison(messages: number): Promise<OutboundComparison> {
  const sink = await SmtpSink.start();
  let dns: DnsServer | undefined;
  const unregister = registerCleanup(async () => await dns?.stop());
  try {
    dns = await DnsServer.start({
      mx: { [SINK_DOMAIN]: [[10, `mx.${SINK_DOMAIN}`]] },
      a: { [`mx.${SINK_DOMAIN}`]: "127.0.0.1" },
    });
    const postfix = await postfixSide(sink, messages, POSTFIX_SENDER);
    checkInterrupted();
    const signing = await postfixDkimSide(sink, messages);
    checkInterrupted();
    const { side: fsmtp, publicPem } = await fsmtpSide(sink, dns, messages);
    checkInterrupted();
    const fromPostfix = (await sink.messages()).filter((m) => m.sender === POSTFIX_SENDER);
    if (fromPostfix.length !== messages) {
      throw new Error(
        `the sink holds ${fromPostfix.length} messages from Postfix, not ${messages}`,
      );
    }
    const dkim = await checkSide(sink, FSMTP_USER, messages, FSMTP_DOMAIN, publicPem);
    if (typeof signing === "string") return { postfix, postfixDkim: signing, fsmtp, dkim };
    const postfixDkimCheck = await checkSide(
      sink,
      OPENDKIM_SENDER,
      messages,
      OPENDKIM_DOMAIN,
      signing.publicPem,
    );
    return { postfix, postfixDkim: signing.side, fsmtp, dkim, postfixDkimCheck };
  } finally {
    unregister();
    await dns?.stop();
    await sink.stop();
  }
}

/**
 * How fsmtp's queue runner delivers, read from src/ at run time so the description cannot go
 * stale: jobs at once, messages per look at the queue, fewest messages per connection, and
 * whether src/cli/runtime.ts overrides the defaults.
 */
export async function fsmtpRunnerSettings(): Promise<string> {
  const src = (path: string) =>
    Deno.readTextFile(new URL(`../src/${path}`, import.meta.url)).catch(() => "");
  const runner = await src("queue/queue_runner.ts");
  const runtime = await src("cli/runtime.ts");
  const concurrency = runner.match(/options\.concurrency \?\? (\d+)/)?.[1];
  const batch = runner.match(/options\.batchLimit \?\? (\d+)/)?.[1];
  const minPer = runner.match(/MIN_PER_CONNECTION = (\d+)/)?.[1];
  if (!concurrency || !batch || !minPer) return "see src/queue/queue_runner.ts";
  const overridden = /\b(concurrency|batchLimit)\s*:/.test(runtime)
    ? " (src/cli/runtime.ts sets its own values: see there)"
    : "";
  return `QueueRunner defaults${overridden}: up to ${concurrency} delivery jobs at once, ` +
    `${batch} due messages taken per look at the queue, one domain's backlog split into jobs ` +
    `of at least ${minPer} messages; each job is one SMTP connection (deliverToDomain) that ` +
    `sends its messages one after another, MAIL+RCPT+DATA pipelined, then QUIT`;
}
