/**
 * The running server's shared state: the current config and TLS context (replaced on SIGHUP),
 * the store, and the services every protocol session reaches through its ports.
 */
import { randomBytes } from "node:crypto";
import type { SecureContext } from "node:tls";
import { Authenticator, type LoginResult } from "../auth/authenticator.ts";
import { LoginGuard } from "../auth/login_guard.ts";
import type { Config } from "../config/config.ts";
import { LocalDelivery } from "../mail/local_delivery.ts";
import { Maildrop } from "../mail/maildrop.ts";
import { UnlockedUsers } from "../mail/unlocked_users.ts";
import { Submission } from "../mail/submission.ts";
import { denoDnsLookup, MessageChecks } from "../inbound/message_checks.ts";
import { parseListen } from "../config/load_config.ts";
import type { Connection } from "../net/connection.ts";
import { OctetBudget } from "../net/octet_budget.ts";
import { CollectionScheduler } from "../net/collect_garbage.ts";
import type { Pop3Ports } from "../pop3/session.ts";
import type { ImapPorts } from "../imap/session.ts";
import { SummaryCaches, UserMail } from "../imap/user_mail.ts";
import type { SmtpPorts } from "../smtp/session.ts";
import type { MailStore } from "../store/mail_store.ts";
import {
  type Coordinator,
  InProcessCoordinator,
  type MaildropLockPort,
  type SessionSlots,
} from "../store/coordinator.ts";
import type { QueueStore } from "../queue/queue_store.ts";
import { QueueRunner, type QueueRunnerOptions } from "../queue/queue_runner.ts";
import { Outbound } from "../mail/outbound.ts";
import type { Logger } from "../log.ts";

/** RFC 9051 §5.4: a logged-in IMAP client is not logged out for at least 30 minutes. */
const IMAP_MIN_IDLE_MS = 30 * 60_000;
/** Before login an IMAP client gets the command timeout, but at most a minute. */
const IMAP_PRE_LOGIN_MAX_MS = 60_000;
/** Literals outside APPEND (search strings, passwords) are small. */
const IMAP_MAX_LITERAL = 64 * 1024;

/** Shared state of a running server. */
export class Runtime {
  readonly delivery: LocalDelivery;
  readonly authenticator: Authenticator;
  /**
   * Users whose keys are unlocked now (sessions, re-wraps, the login cache): delivery wraps
   * their new mail's keys under their mailbox key, and reads share one RSA per message.
   */
  readonly unlocked: UnlockedUsers;
  /** POP3 maildrop locks: this process's, or every node's through the coordinator. */
  readonly locks: MaildropLockPort;
  /**
   * Decoded summaries per user, shared by their IMAP sessions and kept 5 minutes after the
   * last, so reconnecting clients do not open every message again. Memory only, like the
   * login cache's unlocked keys (which live longer).
   */
  readonly summaries = new SummaryCaches(5 * 60_000);
  readonly imapSessions: SessionSlots;
  readonly memory: OctetBudget;
  readonly submission: Submission;
  #checksCache: MessageChecks | undefined;
  #checksKey = "";
  guard: LoginGuard;

  readonly outbound: Outbound;
  #runner: QueueRunner | undefined;

  constructor(
    public config: Config,
    public tls: SecureContext,
    readonly store: MailStore,
    readonly queue: QueueStore,
    /** What the nodes share beyond the store; this process alone by default. */
    readonly coordinator: Coordinator = new InProcessCoordinator(),
  ) {
    this.locks = coordinator.maildropLocks;
    this.imapSessions = coordinator.userSessions(() => this.config.limits.max_connections_per_user);
    this.delivery = new LocalDelivery(store, config.domains, config.quota.max_octets);
    // After 64 MiB of message buffers are done with, a collection returns them within seconds.
    this.memory = new OctetBudget(
      config.limits.max_inflight_octets,
      new CollectionScheduler(64 * 1024 * 1024, 5_000),
    );
    this.authenticator = new Authenticator(store);
    this.unlocked = new UnlockedUsers(store, (address) => this.authenticator.cachedKeys(address));
    this.delivery.unlockedKeys = (address) => this.unlocked.keysFor(address);
    this.outbound = new Outbound(queue, this.delivery, {
      keysDir: () => this.config.keys_dir,
      selector: () => this.config.dkim.selector,
      dkim: () => this.config.dkim,
      hostname: () => this.config.hostname,
    });
    this.submission = new Submission(this.delivery, this.outbound);
    this.guard = this.#makeGuard();
  }

  /** Starts delivering the queue with `deliver` (the SMTP client, or a test's stand-in). */
  startQueue(deliver: QueueRunnerOptions["deliver"], log: Logger): void {
    const config = this.config;
    this.#runner = new QueueRunner({
      store: this.queue,
      deliver,
      sendDsn: (dsn) => this.outbound.sendDsn(dsn),
      clock: Date.now,
      log,
      maxAgeMs: config.outbound.max_age,
      delayWarningMs: config.outbound.delay_warning,
      hostname: config.hostname,
      nodeId: config.node_id,
    });
    this.outbound.kick = () => this.#runner?.kick();
    this.#runner.start();
    this.outbound.running = true;
  }

  /** Makes the runner look at the queue now. */
  kickQueue(): void {
    this.#runner?.kick();
  }

  /** Lets deliveries in flight finish; the queue keeps the rest for the next start. */
  async stopQueue(): Promise<void> {
    this.outbound.running = false;
    await this.#runner?.stop();
  }

  /** Applies a reloaded config (SIGHUP) to new sessions. */
  update(config: Config, tls: SecureContext): void {
    this.config = config;
    this.tls = tls;
    this.delivery.domains = config.domains;
    this.delivery.quota = config.quota.max_octets;
    this.memory.limit = config.limits.max_inflight_octets;
    this.guard.opts.failureDelayMs = config.auth.failure_delay;
    this.guard.opts.maxFailuresPerIp = config.auth.max_failures_per_ip;
    this.guard.opts.windowMs = config.auth.failure_window;
  }

  /** The connection limits of `[limits]`. */
  gateLimits(): { maxConnections: number; maxConnectionsPerIp: number } {
    return {
      maxConnections: this.config.limits.max_connections,
      maxConnectionsPerIp: this.config.limits.max_connections_per_ip,
    };
  }

  /** True when `auth.allow_plaintext` lets this connection log in. */
  plaintextAllowed(conn: Connection): boolean {
    const policy = this.config.auth.allow_plaintext;
    return conn.tls !== undefined || policy === "always" ||
      (policy === "loopback" && conn.isLoopback);
  }

  /** The message checks of the MX listener, or undefined when `inbound.checks` is off. */
  #checks(): MessageChecks | undefined {
    const config = this.config;
    if (!config.inbound.checks) return undefined;
    const { dmarc_policy, check_budget } = config.inbound;
    const key = `${config.hostname} ${config.outbound.resolver} ${dmarc_policy} ${check_budget}`;
    if (this.#checksKey !== key) {
      const server = config.outbound.resolver ? parseListen(config.outbound.resolver) : undefined;
      const nameServer = server ? { ipAddr: server.host, port: server.port } : undefined;
      this.#checksCache = new MessageChecks(
        config.hostname,
        denoDnsLookup(nameServer),
        dmarc_policy,
        check_budget,
      );
      this.#checksKey = key;
    }
    return this.#checksCache;
  }

  /** Ports of an SMTP session: the MX role, or submission with AUTH. */
  smtpPorts(role: "mx" | "submission"): SmtpPorts {
    const config = this.config;
    const submission = this.submission;
    const checks = role === "mx" ? this.#checks() : undefined;
    return {
      submission: role === "mx" ? undefined : {
        plaintextAllowed: (conn) => this.plaintextAllowed(conn),
        login: (address, password, ip) => this.passwordLogin(address, password, ip),
        knownUser: (name) => this.knownUser(name),
        mayUseAddress: (login, address) => submission.mayUseAddress(login, address),
        canRelay: submission.canRelay,
        submit: (message, login) => submission.submit(message, login),
      },
      hostname: config.hostname,
      nodeId: config.node_id,
      tls: this.tls,
      limits: {
        maxMessageSize: config.limits.max_message_size,
        maxRecipients: config.limits.max_recipients,
        maxErrors: config.limits.max_errors,
        commandTimeoutMs: config.limits.command_timeout,
      },
      postmaster: `postmaster@${config.domains[0]}`,
      checkRecipient: (address) => this.delivery.checkRecipient(address),
      deliver: (message) => this.delivery.deliver(message),
      checkMessage: checks && ((input) => checks.check(input)),
      memory: this.memory,
      now: () => new Date(),
      newId: () => randomBytes(6).toString("hex").toUpperCase(),
    };
  }

  /**
   * Whether a login name is a user here (normalised as the authenticator does), so a failed
   * login logs the name only then and a hash otherwise (a password typed as the user name).
   */
  async knownUser(name: string): Promise<boolean> {
    return (await this.store.getUser(name.trim().toLowerCase())) !== undefined;
  }

  /** Ports of a POP3 session. */
  pop3Ports(): Pop3Ports {
    const config = this.config;
    return {
      hostname: config.hostname,
      tls: this.tls,
      plaintextAllowed: (conn) => this.plaintextAllowed(conn),
      login: (address, password, ip) => this.passwordLogin(address, password, ip),
      knownUser: (name) => this.knownUser(name),
      openMaildrop: (login) => Maildrop.open(this.store, this.locks, login, this.unlocked),
      maxLoginFailures: 3,
      maxErrors: config.limits.max_errors,
      handshakeTimeoutMs: config.limits.command_timeout,
    };
  }

  /** Ports of an IMAP session. */
  imapPorts(): ImapPorts {
    const config = this.config;
    return {
      hostname: config.hostname,
      tls: this.tls,
      store: this.store,
      plaintextAllowed: (conn) => this.plaintextAllowed(conn),
      login: (address, password, ip) => this.passwordLogin(address, password, ip),
      knownUser: (name) => this.knownUser(name),
      openMail: (login) => {
        const hold = this.unlocked.acquire(login);
        return new UserMail(
          this.store,
          login.address,
          login.keys,
          this.summaries.acquire(login.address),
          () => {
            this.summaries.release(login.address);
            hold.release();
          },
          hold.contentKeys,
        );
      },
      userSessions: this.imapSessions,
      memory: this.memory,
      limits: {
        maxMessageSize: config.limits.max_message_size,
        maxLiteral: IMAP_MAX_LITERAL,
        maxErrors: config.limits.max_errors,
        preLoginTimeoutMs: Math.min(config.limits.command_timeout, IMAP_PRE_LOGIN_MAX_MS),
        idleTimeoutMs: Math.max(config.limits.command_timeout, IMAP_MIN_IDLE_MS),
        quotaOctets: config.quota.max_octets,
      },
      handshakeTimeoutMs: config.limits.command_timeout,
    };
  }

  /**
   * A password login from `ip`, through the failure guard (shared by every protocol): a
   * login-cache hit answers at once; otherwise the KDF runs in the address's turn, one at a time.
   */
  async passwordLogin(address: string, password: string, ip: string): Promise<LoginResult> {
    const result = await this.guard.attempt(ip, {
      quick: () => this.authenticator.cachedLogin(address, password),
      full: () => this.authenticator.login(address, password),
    });
    // Mail that arrived while the user was away is re-wrapped now, ahead of their reads.
    if (typeof result === "object") this.unlocked.loggedIn(result);
    return result;
  }

  #makeGuard(): LoginGuard {
    return new LoginGuard({
      failureDelayMs: this.config.auth.failure_delay,
      maxFailuresPerIp: this.config.auth.max_failures_per_ip,
      windowMs: this.config.auth.failure_window,
    }, this.coordinator.authFailures);
  }
}
