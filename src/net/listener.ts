/**
 * TCP listeners (plain, or implicit TLS) with the connection limits of `[limits]`: a total
 * across every listener of the process and a per-IP count. A refused client gets the
 * protocol's own refusal line (e.g. SMTP 421) and is closed; the others are unaffected.
 */
import net, { type Server, type Socket } from "node:net";
import tls, { type SecureContext } from "node:tls";
import { parseListen } from "../config/load_config.ts";
import { normalizeAddress } from "./connection.ts";
import { TLS_SERVER_OPTIONS } from "./tls_context.ts";
import type { SessionSlots } from "../store/coordinator.ts";

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
  /** For implicit TLS: the current context (looked up per connection, so SIGHUP can renew it). */
  implicitTls?: () => SecureContext;
  /** Serves one accepted connection; the slot is released when the returned promise settles. */
  serve(socket: Socket): Promise<void>;
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
  const onSocket = (socket: Socket) => {
    const ip = normalizeAddress(socket.remoteAddress ?? "");
    socket.setNoDelay(true);
    // While the shared count is asked, a client reset must not be an unhandled "error" event.
    const ignore = () => {};
    socket.on("error", ignore);
    opts.gate.admit(ip).then((admitted) => {
      socket.off("error", ignore);
      if (!admitted) {
        socket.on("error", () => {});
        socket.end(opts.refusal);
        setTimeout(() => socket.destroy(), 1000);
        return;
      }
      opts.serve(socket)
        .catch((err: Error) => {
          opts.onError(err, socket);
          socket.destroy();
        })
        .finally(() => opts.gate.release(ip));
    }, () => socket.destroy());
  };
  const server: Server = opts.implicitTls
    ? tls.createServer({
      ...TLS_SERVER_OPTIONS,
      SNICallback: (_name, cb) => cb(null, opts.implicitTls!()),
      secureContext: opts.implicitTls(),
    }, onSocket)
    : net.createServer(onSocket);
  // A failed TLS handshake on an implicit-TLS port is the client's problem, not a server error.
  server.on("tlsClientError", () => {});
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
