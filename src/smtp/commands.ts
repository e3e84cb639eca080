/**
 * The SMTP command table: for each verb, the states it is allowed in, the reply when it is
 * not, and its handler. RFC sections are cited on each handler.
 */
import type { TlsInfo } from "../net/connection.ts";
import type { Command, Params, Verb } from "./parse_command.ts";
import type { Mailbox } from "./parse_path.ts";
import { mailboxText } from "./parse_path.ts";
import { Replies, type Reply, reply, SmtpError } from "./reply.ts";
import type { SessionState, SmtpSession } from "./session.ts";
import { messageCost, receiveBdat, receiveData, systemFull } from "./receive_message.ts";
import { authenticate, authOffered } from "./auth_command.ts";
import { envelopeDsn, recipientDsn } from "./dsn_params.ts";

/** One row of the table. */
export interface CommandSpec<V extends Verb> {
  states: readonly SessionState[] | "any";
  outOfState: Reply;
  handle(session: SmtpSession, command: Extract<Command, { verb: V }>): Promise<Reply | undefined>;
}

type Table = { [V in Verb]: CommandSpec<V> };

const needHello = Replies.badSequence("Send EHLO or HELO first");

/** RFC 5321 §4.1.1.1 EHLO / HELO: (re)start the session; any transaction is reset. */
function hello<V extends "EHLO" | "HELO">(verb: V): CommandSpec<V> {
  return {
    states: "any",
    outOfState: needHello,
    handle(s, cmd: { domain: string }) {
      s.resetTransaction();
      s.state = "ready";
      s.heloName = cmd.domain;
      s.esmtp = verb === "EHLO";
      const greeting = `${s.ports.hostname} Hello ${cmd.domain} [${s.conn.remoteAddress}]`;
      if (verb === "HELO") return Promise.resolve(reply(250, undefined, greeting));
      const lines = [
        greeting,
        "PIPELINING", // RFC 2920
        `SIZE ${s.ports.limits.maxMessageSize}`, // RFC 1870
        "8BITMIME", // RFC 6152
        "SMTPUTF8", // RFC 6531
        "ENHANCEDSTATUSCODES", // RFC 2034
        "CHUNKING", // RFC 3030
      ];
      if (s.ports.tls && !s.conn.tls) lines.push("STARTTLS"); // RFC 3207
      if (authOffered(s)) lines.push("AUTH PLAIN LOGIN"); // RFC 4954
      if (s.ports.submission) lines.push("DSN"); // RFC 3461
      return Promise.resolve(reply(250, undefined, lines));
    },
  };
}

/** RFC 5321 §4.1.1.2 MAIL, with SIZE (RFC 1870), BODY (RFC 6152) and SMTPUTF8 (RFC 6531). */
const mail: CommandSpec<"MAIL"> = {
  states: ["ready"],
  outOfState: Replies.badSequence("Send EHLO/HELO first, or finish the current transaction"),
  handle(s, cmd) {
    const dsnParams = s.ports.submission ? ["RET", "ENVID"] : [];
    const smtputf8 = checkParams(s, cmd.params, ["SIZE", "BODY", "SMTPUTF8", ...dsnParams]);
    const body = cmd.params.get("BODY")?.toUpperCase();
    if (body !== undefined && body !== "7BIT" && body !== "8BITMIME") {
      throw new SmtpError(Replies.badParameter("BODY must be 7BIT or 8BITMIME"));
    }
    let declaredSize: number | undefined;
    if (cmd.params.has("SIZE")) {
      const value = cmd.params.get("SIZE") ?? "";
      if (!/^\d{1,15}$/.test(value)) throw new SmtpError(Replies.syntax("SIZE needs a number"));
      declaredSize = Number(value);
      if (declaredSize > s.ports.limits.maxMessageSize) throw new SmtpError(Replies.tooBig);
      const memory = s.ports.memory;
      if (memory && messageCost(s, declaredSize) > memory.available) {
        s.log.info("smtp.mail.refused", { reason: "no-memory", size: declaredSize });
        throw new SmtpError(systemFull);
      }
    }
    const sender = cmd.path.mailbox;
    if (sender?.utf8 && !smtputf8) throw new SmtpError(needUtf8);
    const sub = s.ports.submission;
    if (sub) {
      // RFC 6409 §4.3, RFC 4954 §6: submission is for logged-in users, as themselves.
      if (!s.login) throw new SmtpError(reply(530, "5.7.0", "Authentication required"));
      const address = sender ? mailboxText(sender).toLowerCase() : "";
      if (!sub.mayUseAddress(s.login, address)) {
        throw new SmtpError(reply(553, "5.7.1", `Sender address not owned by ${s.login.address}`));
      }
    }
    s.tx = {
      from: sender ? mailboxText(sender) : "",
      smtputf8,
      declaredSize,
      recipients: [],
      chunks: [],
      chunkedSize: 0,
      dsn: s.ports.submission ? envelopeDsn(cmd.params) : {},
      recipientDsn: new Map(),
      reserved: 0,
    };
    s.state = "mail";
    s.log.info("smtp.mail", { from: s.tx.from, size: declaredSize });
    return Promise.resolve(Replies.senderOk);
  },
};

const needUtf8 = reply(553, "5.6.7", "Non-ASCII address needs the SMTPUTF8 parameter");

/** Rejects parameters not offered (RFC 5321 §4.1.1.11: 555); returns whether SMTPUTF8 is set. */
function checkParams(s: SmtpSession, params: Params, allowed: string[]): boolean {
  if (params.size > 0 && !s.esmtp) {
    throw new SmtpError(Replies.badParameter("Parameters need EHLO, not HELO"));
  }
  for (const key of params.keys()) {
    if (!allowed.includes(key)) {
      throw new SmtpError(Replies.badParameter(`Parameter ${key} not supported`));
    }
  }
  if (params.has("SMTPUTF8") && params.get("SMTPUTF8") !== undefined) {
    throw new SmtpError(Replies.syntax("SMTPUTF8 takes no value"));
  }
  return params.has("SMTPUTF8");
}

/**
 * RFC 5321 §4.1.1.3 RCPT. On the MX listener only local users are accepted, and every form
 * that once made servers relay is refused as relaying (§3.6.1, Appendix C; RFC 2505 §2.3).
 */
const rcpt: CommandSpec<"RCPT"> = {
  states: ["mail", "rcpt"],
  outOfState: Replies.badSequence("Send MAIL first"),
  async handle(s, cmd) {
    const tx = s.tx!;
    checkParams(s, cmd.params, s.ports.submission ? ["NOTIFY", "ORCPT"] : []);
    if (tx.recipients.length >= s.ports.limits.maxRecipients) {
      return Replies.tooManyRecipients;
    }
    if (cmd.path.route.length > 0) {
      return Replies.relayDenied("Source routes are not accepted (relaying denied)");
    }
    const mailbox = cmd.path.mailbox!;
    if (mailbox.utf8 && !tx.smtputf8) return needUtf8;
    if (s.ports.submission && mailbox.domain !== "") {
      return await submissionRecipient(s, mailbox, cmd.params);
    }
    const address = mailbox.domain === "" ? s.ports.postmaster : localAddress(mailbox);
    if (address === undefined) {
      s.log.info("smtp.rcpt.relay_denied", { to: mailboxText(mailbox) });
      return Replies.relayDenied("Relaying denied: this address is not hosted here");
    }
    const found = await s.ports.checkRecipient(address);
    if (found === "not-local") {
      s.log.info("smtp.rcpt.relay_denied", { to: address });
      return Replies.relayDenied("Relaying denied: this domain is not hosted here");
    }
    if (found === "no-such-user") {
      s.log.info("smtp.rcpt.unknown", { to: address });
      return Replies.noSuchUser;
    }
    if (found === "over-quota") {
      s.log.info("smtp.rcpt.over_quota", { to: address });
      return Replies.mailboxFull;
    }
    if (!tx.recipients.includes(address)) tx.recipients.push(address);
    s.state = "rcpt";
    return Replies.recipientOk;
  },
};

/**
 * RCPT on submission (RFC 6409 §4.3): a logged-in user may send anywhere; local recipients
 * must exist, remote ones go to the queue.
 */
async function submissionRecipient(
  s: SmtpSession,
  mailbox: Mailbox,
  params: Params,
): Promise<Reply> {
  const tx = s.tx!;
  const dsn = recipientDsn(params);
  const address = mailboxText(mailbox).toLowerCase();
  const found = mailbox.literal ? "not-local" : await s.ports.checkRecipient(address);
  if (found === "no-such-user") return Replies.noSuchUser;
  if (found === "over-quota") return Replies.mailboxFull;
  if (found === "not-local" && !s.ports.submission!.canRelay) {
    return reply(550, "5.7.1", "Delivery to other domains is not available on this server yet");
  }
  if (!tx.recipients.includes(address)) tx.recipients.push(address);
  tx.recipientDsn.set(address, dsn);
  s.state = "rcpt";
  return Replies.recipientOk;
}

/**
 * The lower-cased address for a mailbox, or undefined when its local part carries another
 * routing (`%`, `!`, or an `@` inside quotes) or its domain is an address literal.
 */
function localAddress(m: Mailbox): string | undefined {
  if (m.literal || /[%!@]/.test(m.localPart)) return undefined;
  return `${m.localPart}@${m.domain}`.toLowerCase();
}

/** RFC 5321 §4.1.1.4 DATA. */
const data: CommandSpec<"DATA"> = {
  states: ["rcpt"],
  outOfState: Replies.badSequence("Send RCPT first"),
  handle(s) {
    if (s.tx!.chunks.length > 0 || s.tx!.chunkFailure) {
      return Promise.resolve(Replies.badSequence("DATA cannot follow BDAT"));
    }
    return receiveData(s);
  },
};

/** RFC 3030 §2 BDAT: the chunk is always read, even when refused, to stay in step. */
const bdat: CommandSpec<"BDAT"> = {
  states: "any",
  outOfState: Replies.badSequence("Send RCPT first"),
  handle: receiveBdat,
};

/** RFC 5321 §4.1.1.5 RSET. */
const rset: CommandSpec<"RSET"> = {
  states: "any",
  outOfState: Replies.ok,
  handle(s) {
    s.resetTransaction();
    return Promise.resolve(Replies.ok);
  },
};

/** RFC 5321 §4.1.1.9 NOOP. */
const noop: CommandSpec<"NOOP"> = {
  states: "any",
  outOfState: Replies.ok,
  handle: () => Promise.resolve(Replies.ok),
};

/** RFC 5321 §4.1.1.10 QUIT. */
const quit: CommandSpec<"QUIT"> = {
  states: "any",
  outOfState: Replies.bye,
  handle(s) {
    s.send(Replies.bye);
    s.conn.close();
    return Promise.resolve(undefined);
  },
};

/** RFC 5321 §3.5.3: VRFY answered 252 so it leaks nothing about which users exist. */
const vrfy: CommandSpec<"VRFY"> = {
  states: "any",
  outOfState: Replies.ok,
  handle: () =>
    Promise.resolve(
      reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"),
    ),
};

/** RFC 5321 §3.5.2: EXPN would disclose mailing lists, so it is refused with 502. */
const expn: CommandSpec<"EXPN"> = {
  states: "any",
  outOfState: Replies.ok,
  handle: () => Promise.resolve(reply(502, "5.5.1", "EXPN not available")),
};

/** RFC 5321 §4.1.1.8 HELP. */
const help: CommandSpec<"HELP"> = {
  states: "any",
  outOfState: Replies.ok,
  handle: () =>
    Promise.resolve(
      reply(214, "2.0.0", [
        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS",
        "See RFC 5321",
      ]),
    ),
};

/** RFC 4954 AUTH: on submission listeners only (the MX listener answers 503). */
const auth: CommandSpec<"AUTH"> = {
  states: ["ready", "mail", "rcpt"],
  outOfState: needHello,
  handle: (s, cmd) => authenticate(s, cmd.argument),
};

/** RFC 3207 STARTTLS: reply 220, handshake, then forget everything (§4.2). */
const starttls: CommandSpec<"STARTTLS"> = {
  states: "any",
  outOfState: needHello,
  async handle(s) {
    if (s.conn.tls) return Replies.badSequence("TLS already active");
    if (!s.ports.tls) return reply(502, "5.5.1", "STARTTLS not available");
    if (s.state === "mail" || s.state === "rcpt") {
      return Replies.badSequence("STARTTLS is not allowed during a mail transaction");
    }
    s.send(reply(220, "2.0.0", "Ready to start TLS"));
    const ok = await s.conn.startTls(s.ports.tls, s.ports.limits.commandTimeoutMs);
    if (!ok) {
      s.log.info("smtp.tls.failed");
      return undefined;
    }
    // RFC 3207 §4.2: forget everything learnt before TLS, a login included.
    s.resetTransaction();
    s.state = "connected";
    s.heloName = "";
    s.esmtp = false;
    s.login = undefined;
    const tls = s.conn.tls as TlsInfo | undefined;
    s.log.info("smtp.tls", { protocol: tls?.protocol, cipher: tls?.cipher });
    return undefined;
  },
};

/** Every command, by verb. */
export const COMMANDS: Table = {
  EHLO: hello("EHLO"),
  HELO: hello("HELO"),
  MAIL: mail,
  RCPT: rcpt,
  DATA: data,
  BDAT: bdat,
  RSET: rset,
  NOOP: noop,
  QUIT: quit,
  VRFY: vrfy,
  EXPN: expn,
  HELP: help,
  AUTH: auth,
  STARTTLS: starttls,
};
