/**
 * The DNS server's sockets: UDP datagrams and TCP streams with the two-octet length prefix of
 * RFC 1035 §4.2.2, several queries per connection answered in order (RFC 7766 §6.2.1), an idle
 * timeout and a cap on connections. The answers come from {@link respond}; UDP answers are rate
 * limited per client network ({@link ResponseRateLimiter}).
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "../log.ts";
import { parseListen } from "../config/load_config.ts";
import { ResponseRateLimiter } from "./rate_limit.ts";
import { respond, type Transport } from "./respond.ts";
import type { Zone } from "./zone.ts";

/** Largest query accepted: real queries are tens of octets; EDNS options add a few hundred. */
export const MAX_QUERY = 4096;
/** TCP connections open at once; more are closed on arrival. */
export const MAX_TCP_CONNECTIONS = 128;
/** RFC 7766 §6.2.3: idle connections are closed after a few seconds. */
export const TCP_IDLE_MS = 10_000;
/** Queries of one connection waiting for their answer before it stops reading (RFC 7766 §6.2.1.1). */
const MAX_PENDING = 32;
/** Answer octets a connection may leave unread before it is closed. */
const MAX_UNREAD = 256 * 1024;

/** Options of {@link startDnsServer}. */
export interface DnsServerOptions {
  /** "host:port"; UDP and TCP both bind it. */
  address: string;
  /** The zone to answer from, fetched per query (it changes as DKIM keys rotate). */
  zone(): Promise<Zone>;
  log: Logger;
  /** UDP answers per second per client network (`dns.rate_limit`); 0 = no limit. */
  rateLimit?: () => number;
}

/** A running server. */
export interface DnsServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Binds UDP and TCP on the address and serves until closed. */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const parsed = parseListen(opts.address);
  if (!parsed) throw new Error(`dns.listen ${opts.address} is not "host:port"`);
  const { host, port } = parsed;
  const answer = async (query: Uint8Array, transport: Transport, truncate = false) => {
    try {
      return respond(query, await opts.zone(), transport, truncate);
    } catch (err) {
      opts.log.error("dns.query.failed", { error: (err as Error).message });
      return undefined;
    }
  };

  const udp = createSocket({ type: host.includes(":") ? "udp6" : "udp4" });
  const limiter = new ResponseRateLimiter(opts.rateLimit ?? (() => 0));
  udp.on("message", async (msg, peer) => {
    if (msg.length > MAX_QUERY) return;
    // Decided before any work: a flood that is dropped costs no zone lookup.
    const decision = limiter.decide(peer.address);
    if (decision === "drop") return;
    const reply = await answer(new Uint8Array(msg), "udp", decision === "slip");
    if (reply) udp.send(reply, peer.port, peer.address);
  });
  udp.on("error", (err) => opts.log.warn("dns.udp.error", { error: err.message }));
  await new Promise<void>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(port, host, () => {
      udp.off("error", reject);
      resolve();
    });
  });

  const sockets = new Set<Socket>();
  const tcp = createServer((socket) => serveTcp(socket, sockets, answer));
  tcp.maxConnections = MAX_TCP_CONNECTIONS;
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(port, host, () => {
        tcp.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    udp.close();
    throw err;
  }
  tcp.on("error", (err) => opts.log.warn("dns.tcp.error", { error: err.message }));
  return {
    host,
    port,
    close: () => closeAll(udp, tcp, sockets),
  };
}

function serveTcp(
  socket: Socket,
  sockets: Set<Socket>,
  answer: (query: Uint8Array, transport: Transport) => Promise<Uint8Array | undefined>,
): void {
  sockets.add(socket);
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  socket.on("close", () => sockets.delete(socket));
  let buffered = new Uint8Array(0);
  // Answers go out in the order the queries came (one chain per connection). A client that
  // sends faster than it reads is paused, then cut, so it cannot make us buffer without end.
  let chain = Promise.resolve();
  let pending = 0;
  socket.on("data", (chunk: Uint8Array) => {
    const next = new Uint8Array(buffered.length + chunk.length);
    next.set(buffered);
    next.set(chunk, buffered.length);
    buffered = next;
    while (buffered.length >= 2) {
      const length = (buffered[0] << 8) | buffered[1];
      if (length > MAX_QUERY) {
        socket.destroy();
        return;
      }
      if (buffered.length < 2 + length) break;
      const query = buffered.slice(2, 2 + length);
      buffered = buffered.slice(2 + length);
      if (++pending >= MAX_PENDING) socket.pause();
      chain = chain.then(async () => {
        const reply = await answer(query, "tcp");
        if (--pending < MAX_PENDING) socket.resume();
        if (!reply || socket.destroyed) return;
        if (socket.writableLength > MAX_UNREAD) {
          socket.destroy();
          return;
        }
        const framed = new Uint8Array(2 + reply.length);
        framed[0] = reply.length >> 8;
        framed[1] = reply.length & 0xff;
        framed.set(reply, 2);
        socket.write(framed);
      });
    }
  });
}

async function closeAll(udp: UdpSocket, tcp: Server, sockets: Set<Socket>): Promise<void> {
  const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  await closed;
}
