/**
 * COMPRESS=DEFLATE (RFC 4978): after the tagged OK both directions are raw DEFLATE; a whole
 * session (SELECT, FETCH of a message, IDLE with a delivery, LOGOUT) works through it, over
 * implicit TLS too, and corrupt compressed input ends only that session.
 */
import assert from "node:assert/strict";
import { constants, createDeflateRaw, createInflateRaw } from "node:zlib";
import { TestServer } from "../helpers/test_server.ts";
import { RawClient } from "../helpers/raw_client.ts";

const USER = "zip@test.example";
const PASSWORD = "compress password";
const te = new TextEncoder();
const td = new TextDecoder("latin1");

/** An IMAP client that can switch its connection to DEFLATE. */
class DeflateClient {
  #text = "";
  #wake: (() => void) | undefined;
  #deflate = createDeflateRaw();
  #inflate = createInflateRaw();
  #compressed = false;
  #ended = false;

  constructor(private conn: Deno.Conn) {
    this.#inflate.on("data", (chunk: Uint8Array) => this.#got(td.decode(chunk)));
    this.#inflate.on("error", () => this.#end());
    this.#deflate.on("data", (chunk: Uint8Array) => void this.#write(chunk));
    this.#pump();
  }

  async #pump(): Promise<void> {
    const buf = new Uint8Array(65536);
    for (;;) {
      let n: number | null;
      try {
        n = await this.conn.read(buf);
      } catch {
        n = null;
      }
      if (n === null) {
        // What the inflater still holds comes out before the end is seen.
        if (!this.#compressed) return this.#end();
        this.#inflate.once("end", () => this.#end());
        this.#inflate.end();
        return;
      }
      const chunk = buf.slice(0, n);
      if (this.#compressed) this.#inflate.write(chunk);
      else this.#got(td.decode(chunk));
    }
  }

  #got(text: string): void {
    this.#text += text;
    this.#wake?.();
  }

  #end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.conn.write(bytes.subarray(at));
  }

  /** Sends a line (compressed once COMPRESS is on). */
  async send(line: string): Promise<void> {
    if (!this.#compressed) return await this.#write(te.encode(line + "\r\n"));
    this.#deflate.write(te.encode(line + "\r\n"));
    this.#deflate.flush(constants.Z_SYNC_FLUSH);
  }

  /** Sends raw bytes after compression is on, bypassing the deflater. */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    await this.#write(bytes);
  }

  /** Waits until the text read so far matches, and takes it. */
  async until(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = pattern.exec(this.#text);
      if (m) {
        const upTo = this.#text.slice(0, m.index + m[0].length);
        this.#text = this.#text.slice(m.index + m[0].length);
        return upTo;
      }
      if (this.#ended) throw new Error(`connection ended; had ${JSON.stringify(this.#text)}`);
      if (Date.now() > deadline) throw new Error(`timed out; had ${JSON.stringify(this.#text)}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  compress(): void {
    this.#compressed = true;
  }

  get ended(): boolean {
    return this.#ended;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed already */ }
    this.#deflate.destroy();
    this.#inflate.destroy();
  }
}

async function deliver(port: number, subject: string): Promise<void> {
  const c = await RawClient.connect(port);
  try {
    for (
      const line of [
        "EHLO c.example",
        "MAIL FROM:<s@example.net>",
        `RCPT TO:<${USER}>`,
        "DATA",
      ]
    ) {
      await c.reply();
      await c.send(line + "\r\n");
    }
    await c.reply();
    await c.send(`Subject: ${subject}\r\n\r\n${"compressible text ".repeat(200)}\r\n.\r\n`);
    assert.equal((await c.reply()).code, 250);
  } finally {
    c.close();
  }
}

Deno.test("imap COMPRESS=DEFLATE", async (t) => {
  const server = await TestServer.start({ tables: { inbound: { checks: false } } });
  try {
    await server.addUser(USER, PASSWORD);
    await deliver(server.smtpPort, "first");

    for (const tls of [false, true]) {
      await t.step(`a whole session through DEFLATE (${tls ? "imaps" : "imap"})`, async () => {
        const tcp = await Deno.connect({
          hostname: "127.0.0.1",
          port: tls ? server.imapsPort : server.imapPort,
        });
        const conn = tls
          ? await Deno.startTls(tcp, {
            hostname: "mx.test.example",
            caCerts: [await Deno.readTextFile(`${server.dir}/keys/cert.pem`)],
          })
          : tcp;
        const c = new DeflateClient(conn);
        try {
          assert.match(await c.until(/\r\n/), /COMPRESS=DEFLATE/);
          await c.send(`a LOGIN ${USER} "${PASSWORD}"`);
          await c.until(/a OK[^\r]*\r\n/);
          await c.send("b COMPRESS DEFLATE");
          await c.until(/b OK[^\r]*\r\n/);
          c.compress();
          await c.send("c SELECT INBOX");
          assert.match(await c.until(/c OK[^\r]*\r\n/), /\* \d+ EXISTS/);
          await c.send("d FETCH 1 (BODY.PEEK[])");
          const fetched = await c.until(/d OK[^\r]*\r\n/);
          assert.match(fetched, /Subject: first\r\n/);
          assert.ok(fetched.includes("compressible text ".repeat(200)));
          await c.send("e COMPRESS DEFLATE");
          assert.match(await c.until(/e NO[^\r]*\r\n/), /COMPRESSIONACTIVE/);
          await c.send("f IDLE");
          await c.until(/\+ [^\r]*\r\n/);
          await deliver(server.smtpPort, tls ? "during idle tls" : "during idle");
          await c.until(/\* \d+ EXISTS\r\n/);
          await c.send("DONE");
          await c.until(/f OK[^\r]*\r\n/);
          await c.send("g LOGOUT");
          assert.match(await c.until(/g OK[^\r]*\r\n/), /\* BYE/);
        } finally {
          c.close();
        }
      });
    }

    await t.step("corrupt compressed input ends that session only", async () => {
      const c = new DeflateClient(
        await Deno.connect({ hostname: "127.0.0.1", port: server.imapPort }),
      );
      try {
        await c.until(/\r\n/);
        await c.send(`a LOGIN ${USER} "${PASSWORD}"`);
        await c.until(/a OK[^\r]*\r\n/);
        await c.send("b COMPRESS DEFLATE");
        await c.until(/b OK[^\r]*\r\n/);
        c.compress();
        await c.sendRaw(new Uint8Array([0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x13, 0x37]));
        const deadline = Date.now() + 10_000;
        while (!c.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.ok(c.ended, "the server kept a session with corrupt DEFLATE input");
      } finally {
        c.close();
      }
      const other = new DeflateClient(
        await Deno.connect({ hostname: "127.0.0.1", port: server.imapPort }),
      );
      try {
        await other.until(/\r\n/);
        await other.send(`a LOGIN ${USER} "${PASSWORD}"`);
        await other.until(/a OK[^\r]*\r\n/);
      } finally {
        other.close();
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});
