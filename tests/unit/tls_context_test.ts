import assert from "node:assert/strict";
import { join } from "node:path";
import net from "node:net";
import { acceptTls, loadTlsContext, TLS_SERVER_OPTIONS } from "../../src/net/tls_context.ts";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";
import { runProgram } from "../helpers/test_server.ts";

Deno.test("TLS server options and context", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const { certPem, keyPem } = await createSelfSignedCertificate("localhost");
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    await Deno.writeTextFile(cert, certPem);
    await Deno.writeTextFile(key, keyPem);

    await t.step("the server's cipher order wins, and TLS is 1.2 or newer", () => {
      assert.equal(TLS_SERVER_OPTIONS.honorCipherOrder, true);
      assert.equal(TLS_SERVER_OPTIONS.minVersion, "TLSv1.2");
    });

    await t.step("acceptTls with the loaded context: TLS 1.2 and 1.3 in, 1.1 refused", async () => {
      // Implicit TLS and STARTTLS both handshake through acceptTls with this context.
      const context = loadTlsContext(cert, key);
      const accepted: string[] = [];
      const server = net.createServer(async (socket) => {
        const secure = await acceptTls(socket, context, 10_000);
        if (!secure) {
          accepted.push("refused");
          return;
        }
        accepted.push(secure.getProtocol() ?? "?");
        secure.end("hello\r\n");
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const { port } = server.address() as net.AddressInfo;
      try {
        const handshake = (version: string, ...extra: string[]) =>
          runProgram(
            "openssl",
            ["s_client", "-connect", `127.0.0.1:${port}`, version, ...extra],
            "",
          );
        const v12 = await handshake("-tls1_2");
        assert.match(v12.stdout, /New, TLSv1\.2, Cipher is/);
        const v13 = await handshake("-tls1_3");
        assert.match(v13.stdout, /New, TLSv1\.3, Cipher is/);
        // SECLEVEL=0 lets this OpenSSL offer 1.1 at all; the server must still refuse it.
        const v11 = await handshake("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0");
        assert.notEqual(v11.code, 0);
        assert.match(v11.stdout + v11.stderr, /Cipher is \(NONE\)|alert/);
        assert.deepEqual(accepted, ["TLSv1.2", "TLSv1.3", "refused"]);
      } finally {
        server.close();
      }
    });

    await t.step("a matching pair loads", () => {
      assert.ok(loadTlsContext(cert, key));
    });

    await t.step("a missing file is named with its config key", () => {
      assert.throws(() => loadTlsContext(join(dir, "none.pem"), key), /tls\.cert/);
      assert.throws(() => loadTlsContext(cert, join(dir, "none.pem")), /tls\.key/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
