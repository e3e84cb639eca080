import assert from "node:assert/strict";
import { join } from "node:path";
import { loadTlsContext, TLS_SERVER_OPTIONS } from "../../src/net/tls_context.ts";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";

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

    await t.step("the listener passes the shared options to tls.createServer", async () => {
      // The implicit-TLS server is the one place besides the context that takes them.
      const source = await Deno.readTextFile(
        new URL("../../src/net/listener.ts", import.meta.url),
      );
      assert.match(source, /tls\.createServer\(\{\s*\.\.\.TLS_SERVER_OPTIONS,/);
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
