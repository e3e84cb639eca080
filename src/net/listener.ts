/**
 * TCP listeners (plain, or implicit TLS) with the connection limits of `[limits]`: a total
 * across every listener of the process and a per-IP count. A refused client gets the
 * protocol's own refusal line (e.g. SMTP 421) and is closed; the others are unaffected.
 */
import net, { type Server, type Socket } from "node:net";
import type { SecureContext } from "node:tls";
import { parseListen } from "../config/load_config.ts";
import { normalizeAddress } from "./connection.ts";
import { acceptTls } from "./tls_context.ts";
import type { SessionSlots } from "../store/coordinator.ts";

/** The implicit-TLS handshake's time limit when none is given (Node's `tls.Server` default). */
export const HANDSHAKE_TIMEOUT_MS = 120_000;
/** A refused client gets its refusal over TLS only if its handshake is this quick. */
const REFUSAL_HANDSHAKE_MS = 5_000;

/** Counts open connections for the whole process (and, with `shared`, across the nodes). */
export class ConnectionGate {
  #total = 0;
  #perIp = new Map<string, number>();
  /**
   * Connections per IP counted by every node (the coordinator's, with Redis); the local count
   * applies too, and is all there is while Redis is down.
   */
  shared: SessionSlots | undefined;

  constructor(public limits: { maxConnections: number; maxConnectionsPerIp: number }) {}

  /** Open connections now. */
  get total(): number {
    return this.#total;
  }

  /** Takes a slot for `ip`; false when a limit is reached. */
  enter(ip: string): boolean {
    const count = this.#perIp.get(ip) ?? 0;
    if (this.#total >= this.limits.maxConnections) return false;
    if (count >= this.limits.maxConnectionsPerIp) return false;
    this.#total++;
    this.#perIp.set(ip, count + 1);
    return true;
  }

  /**
   * Takes a slot here, then one in the shared count; false (and nothing held) when either
   * refuses. Asking the local count first keeps a refused flood off Redis.
   */
  async admit(ip: string): Promise<boolean> {
    if (!this.enter(ip)) return false;
    if (!this.shared) return true;
    let admitted = false;
    try {
      admitted = await this.shared.enter(ip);
    } finally {
      if (!admitted) this.leave(ip);
    }
    return admitted;
  }

  /** Gives back a slot taken by {@link admit}. */
  release(ip: string): void {
    this.leave(ip);
    this.shared?.leave(ip);
  }

  /** Gives the slot back. */
  leave(ip: string): void {
    this.#total--;
    const count = (this.#perIp.get(ip) ?? 1) - 1;
    if (count <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, count);
  }
}

/** What a listener needs. */
export interface ListenerOptions {
  /** The `[listen]` key, for messages. */
  name: string;
  /** The config key of the address, when it is not `listen.<name>`. */
  key?: string;
  /** `host:port`. */
  address: string;
  gate: ConnectionGate;
  /**
   * For implicit TLS (RFC 8314): the current context, looked up per connection so SIGHUP can
   * renew it. The handshake runs as STARTTLS's does (tls_context.ts `acceptTls`).
   */
  implicitTls?: () => SecureContext;
  /** How long an implicit-TLS handshake may take; {@link HANDSHAKE_TIMEOUT_MS} by default. */
  handshakeTimeoutMs?: () => number;
  /**
   * Serves one accepted connection; the slot is released when the returned promise settles.
   * `transport` is the TCP socket under `socket` (the same socket without TLS).
   */
  serve(socket: Socket, transport: Socket): Promise<void>;
  /** Writes the refusal line; the listener closes the socket after it. */
  refusal: string;
  onError(error: Error, socket: Socket): void;
}

/** A started listener. */
export interface RunningListener {
  name: string;
  /** The address actually bound (the port is real even when 0 was asked for). */
  host: string;
  port: number;
  /** Stops accepting at once; open connections are left to their sessions. */
  close(): void;
}

/** Binds and starts accepting; rejects with a message naming the key when binding fails. */
export function startListener(opts: ListenerOptions): Promise<RunningListener> {
  const key = opts.key ?? `listen.${opts.name}`;
  const where = parseListen(opts.address);
  if (!where) throw new Error(`${key}: malformed address ${opts.address}`);
  const onSocket = (raw: Socket) => {
    const ip = normalizeAddress(raw.remoteAddress ?? "");
    raw.setNoDelay(true);
    // While the shared count is asked, a client reset must not be an unhandled "error" event.
    const ignore = () => {};
    raw.on("error", ignore);
    opts.gate.admit(ip).then(async (admitted) => {
      // A connection waiting for its handshake holds a slot: the limits bound those too.
      const socket = opts.implicitTls
        ? await acceptTls(
          raw,
          opts.implicitTls(),
          admitted ? opts.handshakeTimeoutMs?.() ?? HANDSHAKE_TIMEOUT_MS : REFUSAL_HANDSHAKE_MS,
        )
        : raw;
      if (!opts.implicitTls) raw.off("error", ignore);
      if (!socket) {
        if (admitted) opts.gate.release(ip);
        return;
      }
      if (!admitted) {
        socket.on("error", () => {});
        socket.end(opts.refusal);
        setTimeout(() => socket.destroy(), 1000);
        return;
      }
      opts.serve(socket, raw)
        .catch((err: Error) => {
          opts.onError(err, socket);
          socket.destroy();
        })
        .finally(() => opts.gate.release(ip));
    }, () => raw.destroy());
  };
  const server: Server = net.createServer(onSocket);
  return new Promise((resolve, reject) => {
    server.once("error", (err: Error) => {
      reject(
        new Error(
          `cannot listen on ${opts.address} (${key}): ${err.message}. ` +
            `Pick a free port, run with the needed privileges, or set ${key} = "" ` +
            `to disable it.`,
        ),
      );
    });
    server.listen({ host: where.host, port: where.port, backlog: 511 }, () => {
      const bound = server.address() as net.AddressInfo;
      resolve({
        name: opts.name,
        host: bound.address,
        port: bound.port,
        close: () => void server.close(),
      });
    });
  });
}
