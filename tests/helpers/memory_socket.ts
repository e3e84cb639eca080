/**
 * An in-memory stand-in for a node socket: tests push client bytes in and read the server's
 * replies out, so a protocol session runs with no network at all.
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";

/** A duplex whose readable side is fed by the test and whose writes are collected. */
export class MemorySocket extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort = 40000;
  #written = "";
  #waiters: (() => void)[] = [];

  constructor(remoteAddress = "127.0.0.1") {
    super();
    this.remoteAddress = remoteAddress;
  }

  /** Sends bytes from the "client". */
  send(data: string | Uint8Array): void {
    this.push(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  /** The "client" hangs up. */
  hangUp(): void {
    this.push(null);
  }

  override _read(): void {}

  override _write(chunk: Uint8Array | string, _enc: string, done: () => void): void {
    this.#written += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    for (const wake of this.#waiters.splice(0)) wake();
    done();
  }

  /** Everything the server wrote so far. */
  get output(): string {
    return this.#written;
  }

  /** Waits until the output matches `pattern` (condition-based, bounded by `ms`). */
  async waitFor(pattern: RegExp, ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.#written)) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${pattern}; output so far:\n${this.#written}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#written;
  }

  /** Typed as the node socket the server code expects. */
  asSocket(): Socket {
    return this as unknown as Socket;
  }
}
