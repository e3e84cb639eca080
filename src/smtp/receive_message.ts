/**
 * Receiving message content: DATA (RFC 5321 §4.1.1.4) and BDAT chunks (RFC 3030), then
 * delivery. The reply 250 is sent only after the store reports the message fsync'd.
 */
import { concatBytes } from "../crypto/bytes.ts";
import { type DataProblem, scanLines } from "../net/dot_decoder.ts";
import { Replies, type Reply, reply, SmtpError } from "./reply.ts";
import type { SmtpSession } from "./session.ts";
import { traceHeaders } from "./trace_headers.ts";
import { headerAddresses } from "../mime/header_addresses.ts";
import { removeHeaderFields } from "../mime/header_fields.ts";
import { metrics } from "../metrics/metrics.ts";

const encoder = new TextEncoder();

/** Too many large messages arriving at once (RFC 3463 4.3.1): the client tries later. */
export const systemFull = reply(452, "4.3.1", "Insufficient system storage now; try again later");

/**
 * What a message of `octets` costs the in-flight budget all told: its receive buffer and the
 * copies on the way to the store. MAIL with SIZE= is refused when this does not fit now
 * (RFC 1870 §6.1), so a client is not made to send megabytes that would then be refused.
 */
export function messageCost(s: SmtpSession, octets: number): number {
  return octets + RECEIVE_OVERHEAD + copiesOf(s, octets, true);
}

/** The receive buffer's headroom and growth slack beyond the content. */
const RECEIVE_OVERHEAD = 80 * 1024;

/** DATA: 354, read until `CRLF.CRLF`, then deliver or refuse. */
export async function receiveData(s: SmtpSession): Promise<Reply | undefined> {
  // With SIZE= known, the copies are charged before the content comes, so the budget is not
  // filled with receive buffers of messages that could then not be stored (RFC 5321 §4.3.2
  // lets DATA itself be answered 452).
  const declared = s.tx?.declaredSize;
  const upfront = declared !== undefined ? copiesOf(s, declared, true) : 0;
  if (upfront > 0 && s.ports.memory && !s.ports.memory.take(upfront)) {
    s.resetTransaction();
    s.log.info("smtp.message.refused", { reason: "no-memory" });
    return systemFull;
  }
  try {
    return await receiveDataCharged(s, upfront);
  } finally {
    if (upfront > 0) s.ports.memory?.give(upfront);
  }
}

async function receiveDataCharged(s: SmtpSession, upfront: number): Promise<Reply | undefined> {
  s.send(Replies.startData);
  const read = await s.conn.readDotData(
    s.ports.limits.maxMessageSize,
    s.ports.memory,
    s.tx?.declaredSize,
  );
  if (read.kind === "eof") {
    // The client hung up mid-DATA: nothing was acknowledged, so nothing is stored.
    s.log.info("smtp.data.aborted", { reason: "eof" });
    s.conn.destroy();
    return undefined;
  }
  if (read.kind === "timeout") {
    s.log.info("smtp.data.aborted", { reason: "timeout" });
    throw new SmtpError(Replies.timeout, true);
  }
  try {
    if (read.problem) {
      s.resetTransaction();
      return problemReply(s, read.problem);
    }
    return await deliver(s, read.content, read.prepend, upfront);
  } finally {
    s.ports.memory?.give(read.reserved);
  }
}

/** BDAT: read the chunk whatever happens; deliver after LAST. */
export async function receiveBdat(
  s: SmtpSession,
  cmd: { size: number; last: boolean },
): Promise<Reply | undefined> {
  const tx = s.tx;
  const limit = s.ports.limits.maxMessageSize;
  let refusal: Reply | undefined;
  if (!tx || s.state !== "rcpt") refusal = Replies.badSequence("Send MAIL and RCPT first");
  else if (tx.chunkFailure) refusal = tx.chunkFailure;
  else if (tx.chunkedSize + cmd.size > limit) refusal = Replies.tooBig;
  else if (s.ports.memory && !s.ports.memory.take(cmd.size)) refusal = systemFull;
  else tx.reserved += cmd.size;
  const chunk = await s.conn.readExact(cmd.size, refusal === undefined);
  if (!(chunk instanceof Uint8Array)) {
    s.log.info("smtp.bdat.aborted", { reason: chunk.kind });
    if (chunk.kind === "timeout") throw new SmtpError(Replies.timeout, true);
    s.conn.destroy();
    return undefined;
  }
  if (refusal) {
    // Remember the failure so later chunks of this message are refused too (RFC 3030 §4.2).
    if (tx) tx.chunkFailure = refusal;
    if (cmd.last) s.resetTransaction();
    return refusal;
  }
  tx!.chunks.push(chunk);
  tx!.chunkedSize += chunk.length;
  if (!cmd.last) return reply(250, "2.0.0", `${chunk.length} octets received`);
  // A BDAT message may lack the final CRLF that DATA's terminator implies; add it, as the
  // message is a sequence of lines (RFC 5322 §2.1) and POP3 sizes must match what RETR sends.
  const chunks = tx!.chunks;
  const last = chunks.findLast((c) => c.length > 0);
  const ends = last === undefined ||
    (last.length >= 2 && last[last.length - 2] === 13 && last[last.length - 1] === 10);
  // The chunks are joined into one buffer: a copy the budget charges like the others.
  if (s.ports.memory && !s.ports.memory.take(tx!.chunkedSize + 2)) {
    s.resetTransaction();
    return systemFull;
  }
  tx!.reserved += tx!.chunkedSize + 2;
  const content = concatBytes(...chunks, ends ? new Uint8Array(0) : encoder.encode("\r\n"));
  tx!.chunks = [];
  const problem = scanLines(content);
  if (problem) {
    s.resetTransaction();
    return problemReply(s, problem);
  }
  return await deliver(s, content);
}

function problemReply(s: SmtpSession, problem: DataProblem): Reply {
  s.log.info("smtp.message.refused", { reason: problem });
  switch (problem) {
    case "too-big":
      return Replies.tooBig;
    case "bare-newline":
      return reply(
        554,
        "5.6.0",
        "Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 section 2.3.8)",
      );
    case "no-memory":
      return systemFull;
  }
}

/**
 * Copies a message of `octets` makes on its way to disk besides the received buffer (which the
 * reader charged already): the content with its trace headers, and its sealed form; on
 * submission also the signed copy for the queue; with inbound checks, the checker's own copy.
 */
function copiesOf(s: SmtpSession, octets: number, prepend: boolean): number {
  // The sealed form, and the store's copy while it writes it; the trace headers go in front
  // of the received buffer when it has room for them, else that is one more copy.
  const copies = 2 + (prepend ? 0 : 1) + (s.ports.submission ? 1 : 0) +
    (s.ports.checkMessage ? 1 : 0);
  return copies * (octets + COPY_OVERHEAD);
}

/** Trace headers and the like that a copy adds to the content. */
const COPY_OVERHEAD = 16 * 1024;

async function deliver(
  s: SmtpSession,
  body: Uint8Array,
  prepend?: (prefix: Uint8Array) => Uint8Array,
  charged = 0,
): Promise<Reply> {
  // Every copy is charged to the process-wide budget before it is made, so many large messages
  // at once are refused (452 4.3.1) rather than drive memory past the budget. What was charged
  // up front from SIZE= counts; a message larger than declared pays the difference.
  const charge = Math.max(0, copiesOf(s, body.length, prepend !== undefined) - charged);
  if (s.ports.memory && !s.ports.memory.take(charge)) {
    s.resetTransaction();
    s.log.info("smtp.message.refused", { reason: "no-memory" });
    return systemFull;
  }
  try {
    return await deliverCharged(s, body, prepend);
  } finally {
    s.ports.memory?.give(charge);
  }
}

async function deliverCharged(
  s: SmtpSession,
  received: Uint8Array,
  prepend?: (prefix: Uint8Array) => Uint8Array,
): Promise<Reply> {
  let body = received;
  const tx = s.tx!;
  const sub = s.ports.submission;
  if (sub && s.login) {
    // RFC 6409 §8 leaves policy to the MSA: a user sends only as an address they own.
    const senders = headerAddresses(body, "From");
    const login = s.login;
    if (senders.length === 0 || senders.some((a) => !sub.mayUseAddress(login, a))) {
      s.resetTransaction();
      s.log.info("smtp.submission.spoof_refused", { user: login.address });
      return reply(553, "5.7.1", `From: header must name an address of ${login.address}`);
    }
  }
  let mailbox: string | undefined;
  let checkHeaders = "";
  if (!sub && s.ports.checkMessage) {
    // RFC 8601 §5: results claiming to come from this host, added before us, are forgeries.
    const hostname = s.ports.hostname.toLowerCase();
    body = removeHeaderFields(body, (name, value) =>
      name === "authentication-results" &&
      value.trim().toLowerCase().split(/[;\s]/)[0] === hostname);
    const verdict = await s.ports.checkMessage({
      message: body,
      ip: s.conn.remoteAddress,
      helo: s.heloName,
      sender: tx.from,
    });
    s.log.info("smtp.checks", { action: verdict.action, reason: verdict.reason });
    if (verdict.action === "reject") {
      s.resetTransaction();
      return reply(550, "5.7.1", `Rejected: ${verdict.reason}`);
    }
    if (verdict.action === "junk") mailbox = "Junk";
    checkHeaders = verdict.headers;
  }
  const id = s.ports.newId();
  const trace = encoder.encode(traceHeaders({
    results: checkHeaders,
    authenticated: s.login !== undefined,
    returnPath: !sub,
    heloName: s.heloName,
    remoteAddress: s.conn.remoteAddress,
    hostname: s.ports.hostname,
    nodeId: s.ports.nodeId,
    esmtp: s.esmtp,
    smtputf8: tx.smtputf8,
    tls: s.conn.tls,
    id,
    from: tx.from,
    recipients: tx.recipients,
    date: s.ports.now(),
  }));
  // Unchanged by the checks, the received buffer takes the trace headers in its headroom.
  const content = prepend && body === received ? prepend(trace) : concatBytes(trace, body);
  s.resetTransaction();
  try {
    const message = { id, from: tx.from, recipients: tx.recipients, content, mailbox };
    if (sub && s.login) {
      const submitted = {
        ...message,
        user: s.login.address,
        smtputf8: tx.smtputf8,
        dsn: tx.dsn,
        recipientDsn: tx.recipientDsn,
      };
      await sub.submit(submitted, s.login);
    } else await s.ports.deliver(message);
  } catch (err) {
    s.log.error("smtp.deliver.failed", { id, error: (err as Error).message });
    return Replies.tempFailure;
  }
  metrics.messagesReceived.inc({ via: sub ? "submission" : "smtp" });
  s.log.info("smtp.delivered", {
    id,
    from: tx.from,
    rcpts: tx.recipients.length,
    size: body.length,
  });
  return reply(250, "2.0.0", `OK queued as ${id}`);
}
