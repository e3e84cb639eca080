/**
 * Delivery of a batch of messages to one domain: find the route (MX, implicit MX, null MX,
 * or a relay host), try its hosts and their addresses in order until one takes a session,
 * upgrade with STARTTLS when offered, and send every message over that one connection.
 * Per recipient the result is delivered, deferred (retry later) or failed (bounce).
 */
import { isIP } from "node:net";
import type { Resolver } from "../dns/resolver.ts";
import type { DeliveryOutcome as QueueDeliveryOutcome, OutboundMessage } from "../queue/types.ts";
import {
  type ClientTimeouts,
  SmtpClientConnection,
  SmtpClientError,
  type TlsOptions,
  type TranscriptListener,
} from "./client.ts";
import { replyText } from "./reply_reader.ts";
import { findRoute, type RouteHost } from "./route.ts";

export type { OutboundMessage } from "../queue/types.ts";

/** A smarthost to hand all mail to, for hosts whose port 25 is blocked. */
export interface RelayHost {
  /** Host name or address; a name is resolved through the Resolver, else by the system. */
  host: string;
  port: number;
  /** AUTH user (RFC 4954); with it, TLS is required and the password never goes in clear. */
  user?: string;
  password?: string;
  /** "implicit" TLS from the first byte (RFC 8314, port 465) or "starttls"; by port. */
  tls?: "starttls" | "implicit";
  /** Verify the relay's certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Extra trusted certificates (PEM), e.g. the relay's self-signed one. */
  ca?: string | string[];
}

/** Structured log events ("route", "connect", "host_failed", "tls", "sent", …). */
export type DeliveryLog = (event: string, fields: Record<string, unknown>) => void;

/** How to deliver. */
export interface DeliveryOptions {
  resolver: Resolver;
  /** Our name for EHLO (and to spot ourselves among the MX hosts). */
  heloName: string;
  /** The remote SMTP port (25; tests use a peer's port on 127.0.0.1). */
  port: number;
  /** Defer rather than send without TLS (`outbound.require_tls`). */
  requireTls: boolean;
  relay?: RelayHost;
  /** Shorter waits for tests; RFC 5321 §4.5.3.2 values otherwise. */
  timeouts?: Partial<ClientTimeouts>;
  log?: DeliveryLog;
  /** The SMTP transcript, for `--mailtest --verbose`. */
  onLine?: TranscriptListener;
  /** Orders MX hosts of equal preference (RFC 5321 §5.1); Math.random by default. */
  random?: () => number;
}

/** The queue's outcome of one message, plus what the connection negotiated. */
export interface DeliveryOutcome extends QueueDeliveryOutcome {
  /** TLS of the session that carried the message, when there was one. */
  tls?: { protocol: string; cipher: string };
  /** The DSN parameters were passed on to a peer offering DSN (RFC 3461 §5.2). */
  dsn?: boolean;
}

/**
 * Delivers `messages` (all for recipients at `domain`) and returns one outcome per message,
 * in the same order. Never rejects for network or DNS trouble: that is a deferral.
 * `onOutcome` hears each message's outcome the moment the peer answered for it, so the queue
 * can record it before the next message goes out.
 */
export async function deliverToDomain(
  domain: string,
  messages: OutboundMessage[],
  opts: DeliveryOptions,
  onOutcome?: (outcome: DeliveryOutcome) => void,
): Promise<DeliveryOutcome[]> {
  const delivery = new DomainDelivery(domain, messages, opts, onOutcome);
  await delivery.run();
  return messages.map((m) => delivery.outcomes.get(m.id)!);
}

/** A reason that applies to every message still pending. */
interface Verdict {
  status: "deferred" | "failed";
  reply: string;
  remoteHost?: string;
}

class DomainDelivery {
  readonly outcomes = new Map<string, DeliveryOutcome>();
  #pending: OutboundMessage[];
  #verdict: Verdict;
  #stop = false;

  constructor(
    readonly domain: string,
    messages: OutboundMessage[],
    readonly opts: DeliveryOptions,
    /** Told of each message's outcome as soon as the peer has answered for it. */
    readonly onOutcome?: (outcome: DeliveryOutcome) => void,
  ) {
    this.#pending = [...messages];
    this.#verdict = { status: "deferred", reply: `4.4.1 no host for ${domain} could be reached` };
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.opts.log?.(event, { domain: this.domain, ...fields });
  }

  async run(): Promise<void> {
    if (this.#pending.length > 0) await this.#tryHosts();
    // Whatever is left shares the last reason.
    const { status, reply, remoteHost } = this.#verdict;
    for (const m of this.#pending) {
      this.outcomes.set(m.id, {
        id: m.id,
        recipients: m.recipients.map((address) => ({ address, status, reply, remoteHost })),
      });
    }
    this.#pending = [];
  }

  async #tryHosts(): Promise<void> {
    const { relay } = this.opts;
    let hosts: RouteHost[];
    let implicit = false;
    if (relay) {
      hosts = [{ name: relay.host, preference: 0 }];
    } else {
      const route = await findRoute(
        this.domain,
        this.opts.resolver,
        this.opts.heloName,
        this.opts.random,
      );
      if (route.kind === "final") {
        this.#verdict = { status: route.status, reply: route.reason };
        this.#log("route", { verdict: route.reason });
        return;
      }
      hosts = route.hosts;
      implicit = route.implicit;
    }
    this.#log("route", { hosts: hosts.map((h) => h.name), implicit, relay: !!relay });
    for (const host of hosts) {
      for (const address of await this.#addresses(host, implicit)) {
        await this.#tryAddress(host.name, address);
        if (this.#pending.length === 0 || this.#stop) return;
      }
    }
  }

  /** The addresses of one host; [] (with the reason noted) when there are none. */
  async #addresses(host: RouteHost, implicit: boolean): Promise<string[]> {
    if (host.addresses) return host.addresses;
    if (isIP(host.name)) return [host.name];
    let found: string[];
    try {
      found = await this.opts.resolver.addresses(host.name);
    } catch (err) {
      // A relay name the DNS cannot resolve may still be in /etc/hosts: let the system try.
      if (this.opts.relay) return [host.name];
      this.#verdict = {
        status: "deferred",
        reply: `4.4.3 address lookup for ${host.name} failed: ${(err as Error).message}`,
      };
      return [];
    }
    if (found.length > 0) return found;
    if (this.opts.relay) return [host.name];
    this.#verdict = implicit
      ? {
        // RFC 5321 §5.1: no MX and no address record: the domain cannot receive mail.
        status: "failed",
        reply: `5.1.2 ${this.domain} has no MX and no address record (RFC 5321 §5.1)`,
      }
      : { status: "deferred", reply: `4.4.4 MX host ${host.name} has no address` };
    return found;
  }

  /** One address: with STARTTLS when offered, again in clear when TLS fails (RFC 7435). */
  async #tryAddress(host: string, address: string): Promise<void> {
    const again = await this.#session(host, address, true);
    if (again && this.#pending.length > 0) await this.#session(host, address, false);
  }

  /** One session; true when it should be retried without TLS. */
  async #session(host: string, address: string, tryTls: boolean): Promise<boolean> {
    const { relay, timeouts, onLine, heloName } = this.opts;
    const port = relay ? relay.port : this.opts.port;
    const implicitTls = relay !== undefined &&
      (relay.tls ?? (relay.port === 465 ? "implicit" : "starttls")) === "implicit";
    // Opportunistic TLS to MX hosts verifies nothing (RFC 7435 §3); a relay is configured by
    // name and gets the password, so its certificate is checked unless told otherwise.
    const tls: TlsOptions = {
      servername: host,
      rejectUnauthorized: relay ? relay.rejectUnauthorized ?? true : false,
      ca: relay?.ca,
    };
    const tlsRequired = this.opts.requireTls || relay?.user !== undefined;
    const where = `${host}[${address}]:${port}`;
    this.#log("connect", { host, address, port, tls: implicitTls ? "implicit" : tryTls });
    let conn: SmtpClientConnection;
    try {
      conn = await SmtpClientConnection.connect(address, port, {
        timeouts,
        onLine,
        implicitTls: implicitTls ? tls : undefined,
      });
    } catch (err) {
      this.#hostFailed(host, where, err, "4.4.1");
      return false;
    }
    try {
      await conn.ehlo(heloName);
      if (!conn.tls && tryTls && conn.supports("STARTTLS")) {
        try {
          await conn.starttls(tls);
        } catch (err) {
          // RFC 3207 §4: a refused STARTTLS leaves the plain session usable.
          const refused = err instanceof SmtpClientError && err.kind === "reply" && conn.isOpen &&
            !conn.tls;
          if (!refused || tlsRequired) {
            this.#hostFailed(host, where, err, "4.7.5");
            conn.close();
            return !tlsRequired;
          }
          this.#log("tls_refused", { host, address, reason: (err as Error).message });
        }
      }
      if (conn.tls) this.#log("tls", { host, address, ...conn.tls });
      if (!conn.tls && tlsRequired) {
        // X.7.10: encryption needed (RFC 5248 registry). Nothing is sent in clear.
        const why = relay?.user !== undefined
          ? "TLS is required before AUTH"
          : "TLS is required (outbound.require_tls)";
        this.#verdict = {
          status: "deferred",
          reply: `4.7.10 ${where} does not offer STARTTLS and ${why}`,
          remoteHost: host,
        };
        this.#log("host_failed", { host, address, reason: this.#verdict.reply });
        await conn.quit();
        return false;
      }
      if (relay?.user !== undefined) {
        try {
          await conn.auth(relay.user, relay.password ?? "");
        } catch (err) {
          // Wrong credentials stay wrong on every address; stop before a lockout.
          this.#stop = true;
          throw err;
        }
      }
      await this.#sendAll(conn, host, where);
    } catch (err) {
      this.#hostFailed(host, where, err, "4.4.2");
      conn.close();
    }
    return false;
  }

  /** Sends the pending messages over `conn` while it stays open, then says QUIT. */
  async #sendAll(conn: SmtpClientConnection, host: string, where: string): Promise<void> {
    let sent = 0;
    while (this.#pending.length > 0 && conn.isOpen) {
      const m = this.#pending.shift()!;
      const result = await conn.send(
        {
          from: m.from,
          recipients: m.recipients,
          needs8bit: m.needs8bit,
          needsSmtputf8: m.needsSmtputf8,
          dsn: m.dsn,
        },
        m.content,
      );
      const outcome: DeliveryOutcome = {
        id: m.id,
        recipients: result.recipients.map((r) => ({ ...r, remoteHost: host })),
        dsn: result.dsn,
      };
      if (conn.tls) outcome.tls = { protocol: conn.tls.protocol, cipher: conn.tls.cipher };
      this.outcomes.set(m.id, outcome);
      this.onOutcome?.(outcome);
      sent++;
      for (const r of outcome.recipients) {
        this.#log("sent", { id: m.id, rcpt: r.address, status: r.status, reply: r.reply, host });
      }
    }
    if (this.#pending.length > 0) {
      this.#verdict = {
        status: "deferred",
        reply: `4.4.2 ${where}: the session ended after ${sent} message(s) of the batch`,
      };
    }
    await conn.quit();
  }

  /** Notes why a host could not take the mail; the reply is the host's when it gave one. */
  #hostFailed(host: string, where: string, err: unknown, code: string): void {
    if (!(err instanceof SmtpClientError)) throw err;
    const reply = err.reply ? replyText(err.reply) : `${code} ${where}: ${err.message}`;
    this.#verdict = { status: "deferred", reply, remoteHost: err.reply ? host : undefined };
    this.#log("host_failed", { host, where, reason: reply });
  }
}
