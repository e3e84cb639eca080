/**
 * The HTTP server's own defences against the running server, over HTTPS (`http.tls = "always"`
 * on loopback): requests in progress are counted per client address
 * (`limits.max_connections_per_ip`, 429) and in total (`limits.max_connections`, 503, after a
 * SIGHUP lowered it; the total is checked first), each refusal JSON with Retry-After, and a slot comes back when its request
 * ends; SIGHUP makes the HTTP server present a new certificate (checked with
 * `openssl s_client`), as the mail listeners do.
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import { join } from "node:path";
import { curl, json } from "../helpers/http_client.ts";
import { waitFor } from "../helpers/outbound.ts";
import { freePort, runProgram, TestServer } from "../helpers/test_server.ts";

const ANN = "ann@test.example";

/** A POST whose body never finishes: its request stays in progress until the socket closes. */
async function slowPost(port: number, token: string): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("secureConnect", () => resolve()));
  socket.write(
    "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
      `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
      'Content-Length: 1000\r\n\r\n{"from": ',
  );
  return socket;
}

/** The subject line of the certificate the server presents. */
async function servedSubject(port: number): Promise<string> {
  const r = await runProgram("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    "mx.test.example",
  ], "");
  return /^subject=(.*)$/m.exec(r.stdout)?.[1] ?? "";
}

Deno.test("http limits: requests per IP and in total, certificate re-read on SIGHUP", async (t) => {
  const httpPort = freePort();
  const server = await TestServer.start({
    limits: { max_connections: 50, max_connections_per_ip: 2 },
    tables: { http: { listen: `127.0.0.1:${httpPort}`, tls: "always" } },
  });
  const base = `https://127.0.0.1:${httpPort}`;
  const health = () => curl(["-k", `${base}/healthz`]);
  const open: tls.TLSSocket[] = [];
  try {
    await server.addUser(ANN, "ann's limits password");
    const made = await server.cli(["--token", ANN]);
    const token = /fsmtp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/.exec(made.out)![0];

    await t.step("over limits.max_connections_per_ip: 429, then answered again", async () => {
      open.push(await slowPost(httpPort, token), await slowPost(httpPort, token));
      const refused = await waitFor("a 429", async () => {
        const r = await health();
        return r.status === 429 ? r : undefined;
      });
      assert.equal(refused.headers["retry-after"], "1");
      assert.equal(json<{ error: { code: string } }>(refused).error.code, "rate_limited");
      open.pop()!.destroy();
      await waitFor("a slot back", async () => (await health()).status === 200 || undefined);
    });

    await t.step("at limits.max_connections (lowered by SIGHUP): 503", async () => {
      const text = await Deno.readTextFile(server.configPath);
      await Deno.writeTextFile(
        server.configPath,
        text.replace(/^max_connections = 50$/m, "max_connections = 1")
          .replace(/^max_connections_per_ip = 2$/m, "max_connections_per_ip = 1"),
      );
      server.process.kill("SIGHUP");
      await server.waitForOutput(/config\.reloaded/);
      const refused = await waitFor("a 503", async () => {
        const r = await health();
        return r.status === 503 ? r : undefined;
      });
      assert.equal(json<{ error: { code: string } }>(refused).error.code, "unavailable");
      assert.equal(refused.headers["retry-after"], "1");
      open.pop()!.destroy();
      await waitFor("the slot back", async () => (await health()).status === 200 || undefined);
    });

    await t.step("SIGHUP: the HTTP server presents the new certificate", async () => {
      const before = await servedSubject(httpPort);
      assert.ok(before !== "" && !before.includes("reloaded"), before);
      const keys = join(server.dir, "keys");
      const made = await runProgram("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=reloaded.test.example",
        "-keyout",
        join(keys, "key.pem"),
        "-out",
        join(keys, "cert.pem"),
      ]);
      assert.equal(made.code, 0, made.stderr);
      server.process.kill("SIGHUP");
      await server.waitForOutput(/http\.tls\.reloaded/);
      assert.match(await servedSubject(httpPort), /CN ?= ?reloaded\.test\.example/);
      assert.equal((await health()).status, 200);
    });
  } finally {
    for (const socket of open) socket.destroy();
    await server.stop();
    await server.cleanup();
  }
});
