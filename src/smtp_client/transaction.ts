/**
 * One mail transaction on an open connection (RFC 5321 §3.3): MAIL, RCPT for each recipient,
 * DATA and the content. Replies decide each recipient's fate: 2xx delivered, 4xx deferred,
 * 5xx failed (§4.2.1); a lost connection or a timeout defers whatever was not yet answered.
 */
import { dotEncode } from "../net/dot_encoder.ts";
import type { SmtpClientConnection } from "./client.ts";
import { type ClientTimeouts, SmtpClientError } from "./options.ts";
import { type Envelope, mailCommand, rcptCommand } from "./envelope.ts";
import { replyClass, replyText, type SmtpReply } from "./reply_reader.ts";

/** What became of one recipient in one transaction. */
export interface RecipientResult {
  address: string;
  status: "delivered" | "deferred" | "failed";
  /**
   * The server's reply with its code ("550 5.1.1 no such user"), or, when the server said
   * nothing that applies, our own words led by an enhanced status code only ("4.4.2 …").
   */
  reply: string;
}

/** The outcome of {@link SmtpClientConnection.send}. */
export interface SendResult {
  /** One entry per envelope recipient, in envelope order. */
  recipients: RecipientResult[];
  /**
   * The DSN parameters were passed on (the peer offers DSN, RFC 3461 §5.2). When false, a
   * NOTIFY=SUCCESS recipient is owed a "relayed" DSN by us (RFC 3461 §5.2.2).
   */
  dsn: boolean;
}

/** Content is written in pieces of this size, each under the data-block timeout. */
const CHUNK = 64 * 1024;

/** The end of data with no content: what follows a 354 nobody should have sent. */
const EMPTY_CONTENT = new TextEncoder().encode(".\r\n");

/** Runs the transaction; never rejects (see {@link SmtpClientConnection.send}). */
export async function runTransaction(
  conn: SmtpClientConnection,
  env: Envelope,
  message: Uint8Array,
  timeouts: ClientTimeouts,
): Promise<SendResult> {
  const results = new Map<string, RecipientResult>();
  const settle = (addresses: string[], status: RecipientResult["status"], reply: string) => {
    for (const address of addresses) {
      if (!results.has(address)) results.set(address, { address, status, reply });
    }
  };
  const dsn = env.dsn !== undefined && conn.supports("DSN");
  const pipelining = conn.supports("PIPELINING");
  try {
    const accepted = await mailAndRcpt(conn, env, message.length, timeouts, settle, pipelining);
    if (pipelining) await pipelinedData(conn, accepted, message, timeouts, settle);
    else if (accepted.length > 0) await data(conn, accepted, message, timeouts, settle);
  } catch (err) {
    if (!(err instanceof SmtpClientError)) throw err;
    // Where the session stands is unknown now: it carries nothing more.
    conn.close();
    settle(env.recipients, "deferred", deferralReason(conn, err));
  }
  // Recipients whose reply never came: the server said 421 and closed (RFC 5321 §3.8).
  settle(env.recipients, "deferred", `4.4.2 ${conn.host} closed the session before answering`);
  return { recipients: env.recipients.map((a) => results.get(a)!), dsn };
}

type Settle = (addresses: string[], status: RecipientResult["status"], reply: string) => void;

/**
 * MAIL and the RCPTs; returns the recipients the server accepted. Under PIPELINING, DATA goes
 * in the same group (RFC 2920 §3.1 allows it as the group's last command); its reply is left
 * for {@link pipelinedData}.
 */
async function mailAndRcpt(
  conn: SmtpClientConnection,
  env: Envelope,
  size: number,
  timeouts: ClientTimeouts,
  settle: Settle,
  pipelining: boolean,
): Promise<string[]> {
  // A transaction left open by the last message (refused recipients, refused DATA) is ended
  // first (RFC 5321 §4.1.1.5).
  if (conn.inTransaction) await conn.rset();
  const mail = mailCommand(env, size, conn);
  const rcpts = env.recipients.map((address) => rcptCommand(address, env, conn));
  // RFC 2920 §3.1: MAIL, the RCPTs and DATA in one group; the replies come back in order.
  await conn.writeLines(pipelining ? [mail, ...rcpts, "DATA"] : [mail], timeouts.mail);
  const mailReply = await conn.read(timeouts.mail, "the reply to MAIL");
  const mailOk = replyClass(mailReply) === 2;
  if (mailOk) conn.inTransaction = true;
  else settle(env.recipients, fate(mailReply), replyText(mailReply));
  const accepted: string[] = [];
  for (const [i, address] of env.recipients.entries()) {
    if (!conn.isOpen || (!mailOk && !pipelining)) break;
    if (!pipelining) await conn.writeLines([rcpts[i]], timeouts.rcpt);
    const reply = await conn.read(timeouts.rcpt, "the reply to RCPT");
    // After a refused MAIL the pipelined RCPTs are answered with 503s that mean nothing.
    if (!mailOk) continue;
    if (replyClass(reply) === 2) accepted.push(address);
    else settle([address], fate(reply), replyText(reply));
  }
  return accepted;
}

/**
 * The reply to a pipelined DATA, then the content. RFC 2920 §3.1: the client checks every
 * reply of the group; when no recipient was accepted the server should refuse DATA, and if it
 * said 354 anyway, a lone "." ends the empty transaction.
 */
async function pipelinedData(
  conn: SmtpClientConnection,
  accepted: string[],
  message: Uint8Array,
  timeouts: ClientTimeouts,
  settle: Settle,
): Promise<void> {
  if (!conn.isOpen) return;
  const go = await conn.read(timeouts.dataInit, "the reply to DATA");
  if (go.code === 354 && accepted.length === 0) {
    conn.note("C", ".");
    await conn.writeBytes(EMPTY_CONTENT, timeouts.dataBlock);
    await conn.read(timeouts.dataEnd, "the reply to the end of data");
    conn.inTransaction = false;
    return;
  }
  if (accepted.length === 0) return;
  await content(conn, go, accepted, message, timeouts, settle);
}

/** DATA, the content and the final reply (RFC 5321 §4.1.1.4). */
async function data(
  conn: SmtpClientConnection,
  accepted: string[],
  message: Uint8Array,
  timeouts: ClientTimeouts,
  settle: Settle,
): Promise<void> {
  if (!conn.isOpen) return;
  await conn.writeLines(["DATA"], timeouts.dataInit);
  const go = await conn.read(timeouts.dataInit, "the reply to DATA");
  await content(conn, go, accepted, message, timeouts, settle);
}

/** After the reply `go` to DATA: the content and the final reply, or DATA's refusal. */
async function content(
  conn: SmtpClientConnection,
  go: SmtpReply,
  accepted: string[],
  message: Uint8Array,
  timeouts: ClientTimeouts,
  settle: Settle,
): Promise<void> {
  if (go.code !== 354) {
    if (replyClass(go) === 2 || replyClass(go) === 3) {
      // A success reply to DATA breaks the protocol: nobody knows what the server expects.
      throw new SmtpClientError(`unexpected reply to DATA: ${replyText(go)}`, "protocol");
    }
    settle(accepted, fate(go), replyText(go));
    return;
  }
  const encoded = dotEncode(message);
  conn.note("C", `[message content: ${message.length} octets]`);
  for (let at = 0; at < encoded.length; at += CHUNK) {
    await conn.writeBytes(encoded.subarray(at, at + CHUNK), timeouts.dataBlock);
  }
  conn.note("C", ".");
  const final = await conn.read(timeouts.dataEnd, "the reply to the end of data");
  conn.inTransaction = false;
  settle(accepted, replyClass(final) === 2 ? "delivered" : fate(final), replyText(final));
}

/** 4xx (and anything odd) defers; 5xx fails (RFC 5321 §4.2.1). */
function fate(reply: SmtpReply): "deferred" | "failed" {
  return replyClass(reply) === 5 ? "failed" : "deferred";
}

/**
 * Our words for a failure without a reply that applies, led by an enhanced status code
 * (RFC 3463): X.4.2 "bad connection" for lost connections and timeouts, X.5.0 for protocol
 * errors, or the server's reply when the step failed on one (an RSET refused).
 */
export function deferralReason(conn: { host: string }, err: SmtpClientError): string {
  if (err.reply) return replyText(err.reply);
  const code = err.kind === "protocol" ? "4.5.0" : "4.4.2";
  return `${code} ${conn.host}: ${err.message}`;
}
