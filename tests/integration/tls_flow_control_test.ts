/**
 * Flow control under TLS: a connection that is not read pauses the TCP socket under its TLS
 * socket (pausing the TLS socket on Deno does not stop its reads, so memory would grow with
 * what the client sends), and every octet still arrives, in order, once it is read again.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { Connection } from "../../src/net/connection.ts";
import { acceptTls, loadTlsContext } from "../../src/net/tls_context.ts";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";

const LINES = 20_000;
const line = (i: number) => `line ${i} ${"x".repeat(90)}`;

/** Waits until `done()` holds (bounded). */
async function until(done: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("implicit TLS: an unread connection pauses its TCP socket and loses nothing", async () => {
  const dir = await Deno.makeTempDir();
  const { certPem, keyPem } = await createSelfSignedCertificate("localhost");
  await Deno.writeTextFile(`${dir}/cert.pem`, certPem);
  await Deno.writeTextFile(`${dir}/key.pem`, keyPem);
  const context = loadTlsContext(`${dir}/cert.pem`, `${dir}/key.pem`);
  let accepted: (value: { raw: net.Socket; conn: Connection }) => void;
  const served = new Promise<{ raw: net.Socket; conn: Connection }>((r) => accepted = r);
  const server = net.createServer(async (raw) => {
    const secure = await acceptTls(raw, context, 10_000);
    if (!secure) return;
    accepted({
      raw,
      conn: new Connection(secure, { maxLineLength: 1000, timeoutMs: 30_000 }, raw),
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const client = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [certPem] });
  try {
    const text = Array.from({ length: LINES }, (_, i) => line(i) + "\r\n").join("");
    const bytes = new TextEncoder().encode(text);
    const sending = (async () => {
      for (let off = 0; off < bytes.length;) off += await client.write(bytes.subarray(off));
    })();
    const { raw, conn } = await served;
    // Nobody reads: once enough is buffered, the TCP socket under TLS is paused.
    await until(() => raw.isPaused());
    const decoder = new TextDecoder();
    for (let i = 0; i < LINES; i++) {
      const read = await conn.readLine();
      assert.equal(read.kind, "line");
      if (read.kind === "line") assert.equal(decoder.decode(read.line), line(i));
    }
    await sending;
    conn.destroy();
  } finally {
    client.close();
    server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
