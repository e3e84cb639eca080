/**
 * One SMTP server session: the state machine of RFC 5321 §4.1.4 over a `Connection`.
 * Commands come from the table in `commands.ts`; each declares the states it is allowed in.
 * The session talks to ports (`SmtpPorts`), never to a store or the network directly.
 */
import type { SecureContext } from "node:tls";
import type { Login, LoginResult } from "../auth/authenticator.ts";
import type { CheckInput, CheckVerdict } from "../inbound/message_checks.ts";
import type { InboundMessage, RecipientCheck, SubmittedMessage } from "../mail/message_types.ts";
import type { EnvelopeDsn, RecipientDsn } from "./dsn_params.ts";
import type { Connection } from "../net/connection.ts";
import type { OctetBudget } from "../net/octet_budget.ts";
import type { Logger } from "../log.ts";
import { isReply, parseCommand } from "./parse_command.ts";
import { formatReply, Replies, type Reply, SmtpError } from "./reply.ts";
import { COMMANDS } from "./commands.ts";
import { CommandLoop, tooSlowFields } from "../net/command_loop.ts";
import { StoreError } from "../store/mail_store.ts";

/** Where a session stands (RFC 5321 §4.1.4 ordering). */
export type SessionState =
  /** Connected; no EHLO/HELO yet (again after STARTTLS, RFC 3207 §4.2). */
  | "connected"
  /** Greeted; no transaction. */
  | "ready"
  /** MAIL accepted. */
  | "mail"
  /** At least one RCPT accepted. */
  | "rcpt";

/** Limits a session enforces; read from the config when the session starts. */
export interface SessionLimits {
  maxMessageSize: number;
  maxRecipients: number;
  maxErrors: number;
  commandTimeoutMs: number;
}

/** What the submission role adds (RFC 6409, RFC 4954); absent on the MX listener. */
export interface SubmissionPorts {
  /** May this connection log in without TLS (`auth.allow_plaintext`)? */
  plaintextAllowed(conn: Connection): boolean;
  /** Checks a password; the failure delay is served inside. */
  login(address: string, password: string, ip: string): Promise<LoginResult>;
  /**
   * Whether a login name names a user here; only to choose what a failed login logs (the name,
   * or a hash of it), asked once the answer is decided. Absent: the hash is logged.
   */
  knownUser?: (name: string) => Promise<boolean>;
  /** May this user send as `address` (MAIL FROM and From:)? */
  mayUseAddress(login: Login, address: string): boolean;
  /** True when the queue runs and remote recipients can be accepted. */
  canRelay: boolean;
  /** Delivers: local recipients locally, remote ones to the queue, a copy to Sent; durable. */
  submit(message: SubmittedMessage, login: Login): Promise<void>;
}

/** The ports an SMTP session needs. */
export interface SmtpPorts {
  /** Present on submission listeners: AUTH, relaying for users, sender checks. */
  submission?: SubmissionPorts;
  /** Octets of message content all sessions may hold in memory at once. */
  memory?: OctetBudget;
  hostname: string;
  nodeId: string;
  limits: SessionLimits;
  /** The TLS context for STARTTLS; undefined disables STARTTLS. */
  tls: SecureContext | undefined;
  checkRecipient(address: string): Promise<RecipientCheck>;
  /** The mailbox RCPT TO:<Postmaster> means (RFC 5321 §4.1.1.3). */
  postmaster: string;
  /** Stores the message durably; resolves only once it is fsync'd for every recipient. */
  deliver(message: InboundMessage): Promise<void>;
  /** DKIM/SPF/DMARC/ARC checks of inbound mail (MX listener); absent when switched off. */
  checkMessage?(input: CheckInput): Promise<CheckVerdict>;
  now(): Date;
  newId(): string;
}

/** The mail transaction in progress (RFC 5321 §3.3). */
export interface Transaction {
  from: string;
  smtputf8: boolean;
  declaredSize?: number;
  recipients: string[];
  /** BDAT chunks received so far (RFC 3030). */
  chunks: Uint8Array[];
  chunkedSize: number;
  /** Set when a BDAT chunk was refused: the rest of the chunks are read and dropped. */
  chunkFailure?: Reply;
  /** Octets of `memory` the BDAT chunks hold; given back when the transaction ends. */
  reserved: number;
  /** RET and ENVID (submission only, RFC 3461). */
  dsn: EnvelopeDsn;
  /** NOTIFY and ORCPT per recipient (submission only). */
  recipientDsn: Map<string, RecipientDsn>;
}

/** One session. Create it per connection and call `run()`. */
export class SmtpSession {
  state: SessionState = "connected";
  /** The EHLO/HELO argument, as given. */
  heloName = "";
  /** True after EHLO (not HELO): ESMTP parameters are allowed. */
  esmtp = false;
  tx: Transaction | undefined;
  /** Set by a successful AUTH (submission only); cleared by STARTTLS (RFC 3207 §4.2). */
  login: Login | undefined;
  authFailures = 0;
  errors = 0;
  readonly #loop: CommandLoop<Uint8Array>;

  constructor(
    readonly conn: Connection,
    readonly ports: SmtpPorts,
    readonly log: Logger,
  ) {
    this.#loop = new CommandLoop(conn, {
      read: async () => {
        const read = await conn.readLine();
        return read.kind === "line" ? { kind: "command", command: read.line } : read;
      },
      execute: (line) => this.#execute(line),
      tooLong: () => this.#answer(Replies.lineTooLong),
      end: (why) => {
        if (why === "timeout") this.log.info("smtp.timeout", { state: this.state });
        if (why === "too-slow") this.log.info("smtp.too_slow", tooSlowFields(this.state, conn));
        if (why === "errors") this.log.warn("smtp.too_many_errors", { errors: this.errors });
        // A client too slow gets the timeout's 421 4.4.2, as DATA answers it.
        this.#closeWith(
          why === "timeout" || why === "too-slow"
            ? Replies.timeout
            : why === "errors"
            ? Replies.tooManyErrors
            : Replies.shuttingDown,
        );
      },
      hungUp: () => this.log.info("smtp.disconnect", { state: this.state }),
      tooManyErrors: () => this.errors >= ports.limits.maxErrors,
    });
  }

  /** Serves the connection until QUIT, EOF, timeout, too many errors or shutdown. */
  async run(): Promise<void> {
    this.send({ code: 220, text: `${this.ports.hostname} ESMTP fsmtp ready` });
    try {
      await this.#loop.run();
    } finally {
      // Whatever ended the session, memory held by an unfinished BDAT transaction goes back.
      this.resetTransaction();
    }
  }

  /**
   * Asks the session to end: at once when it waits for a command, after the command in
   * progress (a message being received is finished and acknowledged first) otherwise.
   */
  requestShutdown(): void {
    this.#loop.requestShutdown();
  }

  async #execute(line: Uint8Array): Promise<void> {
    const parsed = parseCommand(line);
    if (isReply(parsed)) return this.#answer(parsed);
    const spec = COMMANDS[parsed.verb];
    if (spec.states !== "any" && !spec.states.includes(this.state)) {
      return this.#answer(spec.outOfState);
    }
    try {
      // The table's handler type matches its verb; TypeScript cannot narrow the union here.
      const result = await (spec.handle as (s: SmtpSession, c: typeof parsed) => Promise<
        Reply | undefined
      >)(this, parsed);
      if (result) this.#answer(result);
    } catch (err) {
      if (err instanceof StoreError && (err.code === "unavailable" || err.code === "conflict")) {
        // The store cannot answer now (a Cassandra quorum down): the client retries later
        // (RFC 5321 §4.2.5 451), the session and the server go on.
        this.log.warn("smtp.store.unavailable", { verb: parsed.verb, error: err.message });
        this.#answer(Replies.storeUnavailable);
        return;
      }
      if (!(err instanceof SmtpError)) throw err;
      this.#answer(err.reply);
      if (err.close) this.conn.close();
    }
  }

  #answer(reply: Reply): void {
    if (reply.code >= 500) this.errors++;
    this.send(reply);
  }

  /** Queues a reply (sent before the session next waits for input). */
  send(reply: Reply): void {
    this.conn.write(formatReply(reply));
  }

  /** Ends the transaction (RSET, after DATA, after STARTTLS, at the end of the session). */
  resetTransaction(): void {
    if (this.tx?.reserved) this.ports.memory?.give(this.tx.reserved);
    this.tx = undefined;
    if (this.state === "mail" || this.state === "rcpt") this.state = "ready";
  }

  #closeWith(reply: Reply): void {
    this.send(reply);
    this.conn.close();
  }
}
