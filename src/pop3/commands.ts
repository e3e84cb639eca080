/**
 * The POP3 command table: for each verb, the states it is allowed in, the `-ERR` text when it
 * is not, and its handler. RFC sections are cited on each handler.
 */
import type { MessageMeta } from "../store/mail_store.ts";
import type { TlsInfo } from "../net/connection.ts";
import { dotEncodeParts, headAndLines } from "../net/dot_encoder.ts";
import { decodeSaslPlain } from "../auth/sasl_plain.ts";
import { logLoginFailure } from "../log.ts";
import type { Pop3Command, Pop3Verb } from "./parse_command.ts";
import type { Pop3Session, Pop3State } from "./session.ts";

/** One row of the table. */
export interface Pop3CommandSpec<V extends Pop3Verb> {
  states: readonly Pop3State[];
  outOfState: string;
  handle(s: Pop3Session, cmd: Extract<Pop3Command, { verb: V }>): Promise<void>;
}

type Table = { [V in Pop3Verb]: Pop3CommandSpec<V> };

const AUTH: readonly Pop3State[] = ["authorization"];
const TRANS: readonly Pop3State[] = ["transaction"];
const ANY: readonly Pop3State[] = ["authorization", "transaction"];
// The original server's words for a login command after a login.
const ALREADY = "Order Error: Client already authenticated.";
const NEED_LOGIN = "Log in first (USER/PASS or AUTH)";
/** Queued response octets that are sent (and waited for, when the client lags) at once. */
const SEND_AT = 256 * 1024;

/** Refuses a login without TLS unless `auth.allow_plaintext` permits it (RFC 2595 §2). */
function plaintextRefused(s: Pop3Session): boolean {
  if (s.ports.plaintextAllowed(s.conn)) return false;
  s.err("[AUTH] Plaintext login is disabled: use STLS first, or port 995");
  return true;
}

/** Checks the password, opens the maildrop, enters TRANSACTION (RFC 1939 §4, §5). */
async function login(s: Pop3Session, user: string, password: string): Promise<void> {
  const result = await s.ports.login(user, password, s.conn.remoteAddress);
  if (result === "blocked") {
    await logLoginFailure(s.log, "warn", "pop3.login.blocked", user, s.ports.knownUser);
    s.err("[AUTH] Too many failed logins from your address; try again later");
    s.conn.close();
    return;
  }
  if (result === "bad") {
    await logLoginFailure(s.log, "info", "pop3.login.failed", user, s.ports.knownUser);
    s.loginFailures++;
    s.err("[AUTH] Invalid user name or password");
    if (s.loginFailures >= s.ports.maxLoginFailures) s.conn.close();
    return;
  }
  let drop;
  try {
    drop = await s.ports.openMaildrop(result);
  } catch (err) {
    s.log.error("pop3.maildrop.failed", { user: result.address, error: (err as Error).message });
    s.err("[SYS/TEMP] Cannot open the maildrop now, try again later");
    return;
  }
  if (drop === "in-use") {
    s.log.info("pop3.login.in_use", { user: result.address });
    s.err("[IN-USE] Maildrop is locked by another session");
    return;
  }
  s.drop = drop;
  s.state = "transaction";
  const { count, octets } = totals(s);
  s.log.info("pop3.login", { user: result.address, messages: count });
  s.ok(`Logged in, ${count} messages (${octets} octets)`);
}

function totals(s: Pop3Session): { count: number; octets: number } {
  let count = 0;
  let octets = 0;
  s.drop!.messages.forEach((m, i) => {
    if (s.deleted.has(i + 1)) return;
    count++;
    octets += m.size;
  });
  return { count, octets };
}

/** The message numbered `n`, or undefined after answering -ERR. */
function message(s: Pop3Session, n: number): MessageMeta | undefined {
  const meta = s.drop!.messages[n - 1];
  if (!meta) s.err(`No such message ${n}`);
  else if (s.deleted.has(n)) s.err(`Message ${n} is deleted`);
  else return meta;
  return undefined;
}

/** RFC 1939 §7 UIDL value: unique per maildrop and stable across sessions. */
function uidl(s: Pop3Session, meta: MessageMeta): string {
  return `${s.drop!.uidValidity}.${meta.uid}`;
}

/** Sends a message's content as a multi-line response, or -ERR [SYS/TEMP] if unreadable. */
async function sendContent(
  s: Pop3Session,
  meta: MessageMeta,
  first: string,
  cut: (m: Uint8Array) => Uint8Array,
): Promise<void> {
  let content: Uint8Array;
  try {
    content = await s.drop!.read(meta);
  } catch (err) {
    s.log.error("pop3.read.failed", { uid: meta.uid, error: (err as Error).message });
    return s.err("[SYS/TEMP] Cannot read the message now");
  }
  s.conn.write(`+OK ${first}\r\n`);
  // Parts, not one encoded copy: the queued replies are joined into one buffer when sent.
  for (const part of dotEncodeParts(cut(content))) s.conn.write(part);
  // Pipelined RETRs are answered in one write when the client's commands run out; a client
  // that pipelines many and reads slowly is made to wait for here instead of queuing them all.
  if (s.conn.queuedOctets >= SEND_AT) await s.conn.drained();
}

const loginCommand = <V extends "USER" | "PASS" | "AUTH" | "APOP">(
  handle: Pop3CommandSpec<V>["handle"],
): Pop3CommandSpec<V> => ({ states: AUTH, outOfState: ALREADY, handle });

/** Every command, by verb. */
export const POP3_COMMANDS: Table = {
  /** RFC 1939 §7 USER. */
  USER: loginCommand((s, cmd) => {
    if (!plaintextRefused(s)) {
      s.pendingUser = cmd.name;
      s.ok("Send PASS");
    }
    return Promise.resolve();
  }),
  /** RFC 1939 §7 PASS. */
  PASS: loginCommand(async (s, cmd) => {
    if (plaintextRefused(s)) return;
    const user = s.pendingUser;
    s.pendingUser = undefined;
    if (user === undefined) return s.err("Send USER first");
    await login(s, user, cmd.password);
  }),
  /** RFC 5034 AUTH, with the PLAIN mechanism of RFC 4616 only. */
  AUTH: loginCommand(async (s, cmd) => {
    if (plaintextRefused(s)) return;
    if (cmd.mechanism === undefined) {
      s.conn.write("+OK Mechanisms follow\r\nPLAIN\r\n.\r\n");
      return;
    }
    if (cmd.mechanism !== "PLAIN") return s.err("Unsupported authentication mechanism");
    let response = cmd.initial;
    if (response === undefined) {
      s.conn.write("+ \r\n");
      const read = await s.conn.readLine();
      if (read.kind === "too-long") return s.err("[AUTH] Authentication response too long");
      if (read.kind === "timeout") {
        // Cut for slowness, the command loop says so once this returns.
        if (s.conn.tooSlow) return;
        s.conn.write("-ERR Autologout: idle for too long\r\n");
        return s.conn.close();
      }
      if (read.kind !== "line") return s.conn.destroy();
      response = new TextDecoder().decode(read.line);
    }
    if (response === "*") return s.err("Authentication cancelled");
    const creds = decodeSaslPlain(response === "=" ? "" : response);
    if (!creds) return s.err("[AUTH] Malformed PLAIN response");
    await login(s, creds.user, creds.password);
  }),
  /** RFC 1939 §7 APOP needs a clear-text shared secret on the server: not offered. */
  APOP: loginCommand((s) => {
    s.err("APOP is not supported; use USER/PASS or AUTH PLAIN over TLS");
    return Promise.resolve();
  }),
  /** RFC 2449 §5 CAPA. */
  CAPA: {
    states: ANY,
    outOfState: "",
    handle(s) {
      const lines = ["TOP", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE"];
      if (s.state === "authorization") {
        if (s.ports.plaintextAllowed(s.conn)) lines.push("USER", "SASL PLAIN");
        if (s.ports.tls && !s.conn.tls) lines.push("STLS");
      }
      lines.push("EXPIRE NEVER", "IMPLEMENTATION fsmtp");
      s.conn.write(`+OK Capability list follows\r\n${lines.join("\r\n")}\r\n.\r\n`);
      return Promise.resolve();
    },
  },
  /** RFC 2595 §4 STLS: handshake, then forget what came before. */
  STLS: {
    states: AUTH,
    outOfState: "STLS is only allowed before login",
    async handle(s) {
      if (s.conn.tls) return s.err("TLS is already active");
      if (!s.ports.tls) return s.err("TLS is not available");
      s.ok("Begin TLS negotiation");
      const ok = await s.conn.startTls(s.ports.tls, s.ports.handshakeTimeoutMs);
      s.pendingUser = undefined;
      const tls = s.conn.tls as TlsInfo | undefined;
      if (ok) s.log.info("pop3.tls", { protocol: tls?.protocol, cipher: tls?.cipher });
    },
  },
  /** RFC 1939 §5 STAT. */
  STAT: {
    states: TRANS,
    outOfState: NEED_LOGIN,
    handle(s) {
      const { count, octets } = totals(s);
      s.ok(`${count} ${octets}`);
      return Promise.resolve();
    },
  },
  /** RFC 1939 §5 LIST. */
  LIST: {
    states: TRANS,
    outOfState: NEED_LOGIN,
    handle(s, cmd) {
      if (cmd.msg !== undefined) {
        const meta = message(s, cmd.msg);
        if (meta) s.ok(`${cmd.msg} ${meta.size}`);
        return Promise.resolve();
      }
      const { count, octets } = totals(s);
      const lines = s.drop!.messages.flatMap((m, i) =>
        s.deleted.has(i + 1) ? [] : [`${i + 1} ${m.size}\r\n`]
      );
      s.conn.write(`+OK ${count} messages (${octets} octets)\r\n${lines.join("")}.\r\n`);
      return Promise.resolve();
    },
  },
  /** RFC 1939 §7 UIDL. */
  UIDL: {
    states: TRANS,
    outOfState: NEED_LOGIN,
    handle(s, cmd) {
      if (cmd.msg !== undefined) {
        const meta = message(s, cmd.msg);
        if (meta) s.ok(`${cmd.msg} ${uidl(s, meta)}`);
        return Promise.resolve();
      }
      const lines = s.drop!.messages.flatMap((m, i) =>
        s.deleted.has(i + 1) ? [] : [`${i + 1} ${uidl(s, m)}\r\n`]
      );
      s.conn.write(`+OK Unique-ID listing follows\r\n${lines.join("")}.\r\n`);
      return Promise.resolve();
    },
  },
  /** RFC 1939 §5 RETR. */
  RETR: {
    states: TRANS,
    outOfState: NEED_LOGIN,
    async handle(s, cmd) {
      const meta = message(s, cmd.msg);
      if (!meta) return;
      // The skip test looks a message's number up only when something is deleted at all.
      s.drop!.readAhead(
        meta,
        (m) => s.deleted.size > 0 && s.deleted.has(s.drop!.messages.indexOf(m) + 1),
      );
      await sendContent(s, meta, `${meta.size} octets`, (m) => m);
    },
  },
  /** RFC 1939 §7 TOP. */
  TOP: {
    states: TRANS,
    outOfState: NEED_LOGIN,
    async handle(s, cmd) {
      const meta = message(s, cmd.msg);
      if (meta) {
        await sendContent(s, meta, "Top of message follows", (m) => headAndLines(m, cmd.lines));
      }
    },
  },
  /** RFC 1939 §5 DELE: marks only; UPDATE deletes. */
  DELE: {
    states: TRANS,
    outOfState: NEED_LOGIN,
    handle(s, cmd) {
      if (message(s, cmd.msg)) {
        s.deleted.add(cmd.msg);
        s.ok(`Message ${cmd.msg} deleted`);
      }
      return Promise.resolve();
    },
  },
  /** RFC 1939 §5 RSET. */
  RSET: {
    states: TRANS,
    outOfState: NEED_LOGIN,
    handle(s) {
      s.deleted.clear();
      const { count, octets } = totals(s);
      s.ok(`Maildrop has ${count} messages (${octets} octets)`);
      return Promise.resolve();
    },
  },
  /** RFC 1939 §5 NOOP. */
  NOOP: {
    states: TRANS,
    outOfState: NEED_LOGIN,
    handle(s) {
      s.ok("");
      return Promise.resolve();
    },
  },
  /** RFC 1939 §4 and §6 QUIT: in TRANSACTION, the UPDATE state removes DELE'd messages. */
  QUIT: {
    states: ANY,
    outOfState: "",
    async handle(s) {
      if (s.state === "transaction" && s.deleted.size > 0) {
        const uids = [...s.deleted].map((n) => s.drop!.messages[n - 1].uid);
        try {
          await s.drop!.expunge(uids);
        } catch (err) {
          s.log.error("pop3.update.failed", { error: (err as Error).message });
          s.conn.write("-ERR [SYS/TEMP] Some deleted messages were not removed\r\n");
          s.conn.close();
          return;
        }
        s.log.info("pop3.update", { deleted: uids.length });
      }
      s.ok(`${s.ports.hostname} fsmtp POP3 server signing off`);
      s.conn.close();
    },
  },
};
