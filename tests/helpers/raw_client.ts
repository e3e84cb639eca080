/**
 * A minimal line client for tests that must send exactly the bytes they choose (garbage,
 * pipelined batches, BDAT, half messages) and read whole SMTP replies back.
 */

/** One reply: code and its lines. */
export interface RawReply {
  code: number;
  lines: string[];
  text: string;
}

/** A raw TCP client. */
export class RawClient {
  #buf = "";
  #decoder = new TextDecoder();
  #closed = false;

  private constructor(private conn: Deno.Conn) {}

  /** Connects to 127.0.0.1:`port`. */
  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Sends bytes as they are. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    let at = 0;
    while (at < bytes.length) at += await this.conn.write(bytes.subarray(at));
  }

  /** Reads one complete (possibly multi-line) reply; throws on EOF or after `ms`. */
  async reply(ms = 10_000): Promise<RawReply> {
    const deadline = Date.now() + ms;
    const lines: string[] = [];
    for (;;) {
      const nl = this.#buf.indexOf("\r\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 2);
        lines.push(line);
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
          return { code: Number(line.slice(0, 3)), lines, text: lines.join("\n") };
        }
        continue;
      }
      const chunk = await this.#read(deadline);
      if (chunk === null) {
        throw new Error(`connection closed while reading a reply (got ${JSON.stringify(lines)})`);
      }
      this.#buf += chunk;
    }
  }

  /** Sends a command and reads its reply. */
  async command(line: string): Promise<RawReply> {
    await this.send(line + "\r\n");
    return await this.reply();
  }

  /** Resolves true when the server closes the connection within `ms`. */
  async closedByServer(ms = 10_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      const chunk = await this.#read(deadline).catch(() => "timeout");
      if (chunk === null) return true;
      if (chunk === "timeout") return false;
      this.#buf += chunk;
    }
  }

  /** Whatever was received but not consumed as replies. */
  get pending(): string {
    return this.#buf;
  }

  async #read(deadline: number): Promise<string | null> {
    const buf = new Uint8Array(65536);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(1, deadline - Date.now()));
    });
    try {
      const n = await Promise.race([this.conn.read(buf), timeout]);
      if (n === "timeout") throw new Error("timed out waiting for the server");
      if (n === null) return null;
      return this.#decoder.decode(buf.subarray(0, n), { stream: true });
    } catch (err) {
      if (err instanceof Deno.errors.ConnectionReset) return null;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Upgrades to TLS (after the server's 220 to STARTTLS), verifying the server's certificate
   * against `caCert` for `hostname`. Unread bytes from before the upgrade are dropped.
   */
  async startTls(hostname: string, caCert: string): Promise<void> {
    this.#buf = "";
    this.conn = await Deno.startTls(this.conn as Deno.TcpConn, { hostname, caCerts: [caCert] });
  }

  /** Closes the socket (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}
