/**
 * A DNS server that never answers: a UDP socket on 127.0.0.1 that reads every query and replies
 * to none (a resolver behind a black hole, a firewall dropping port 53). It counts the queries,
 * so a test can see that a cache kept them few.
 */
import { createSocket, type Socket } from "node:dgram";

/** A running silent resolver. */
export class SilentDns {
  /** Datagrams received so far. */
  queries = 0;

  private constructor(private readonly socket: Socket, readonly port: number) {
    socket.on("message", () => this.queries++);
  }

  /** Binds a free UDP port on 127.0.0.1. */
  static async start(): Promise<SilentDns> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "127.0.0.1", () => resolve());
    });
    return new SilentDns(socket, socket.address().port);
  }

  /** `host:port` for `outbound.resolver`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Closes the socket. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
