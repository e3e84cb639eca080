/**
 * The HTTP server's own defences against the running server, over HTTPS (`http.tls = "always"`
 * on loopback): connections count against `limits.max_connections_per_ip` and (after a SIGHUP
 * lowered it) `limits.max_connections` like the mail ports', a refused one reads 503 with
 * Retry-After, and a slot comes back when its connection ends; a request head still unfinished
 * after `limits.line_deadline` (slowloris) gets its connection closed; SIGHUP makes the HTTP
 * server present a new certificate (checked with `openssl s_client`), as the mail listeners do;
 * a local process connecting to the internal `Deno.serve` port directly is refused.
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import { join } from "node:path";
import { curl, json } from "../helpers/http_client.ts";
import { waitFor } from "../helpers/outbound.ts";
import { freePort, runProgram, TestServer } from "../helpers/test_server.ts";

const ANN = "ann@test.example";

/** A TLS connection to the HTTP port; `closed` settles when the server closes it. */
async function connect(port: number): Promise<{ socket: tls.TLSSocket; closed: Promise<void> }> {
  const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve) => socket.once("secureConnect", () => resolve()));
  return { socket, closed };
}

/** A POST whose body never finishes: its connection stays busy until closed. */
async function slowPost(port: number, token: string): Promise<tls.TLSSocket> {
  const { socket } = await connect(port);
  socket.write(
    "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
      `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
      'Content-Length: 1000\r\n\r\n{"from": ',
  );
  return socket;
}

/**
 * The TCP ports process `pid` listens on, from /proc: its socket inodes (/proc/PID/fd) matched
 * with the listening sockets of /proc/net/tcp (state 0A).
 */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for await (const fd of Deno.readDir(`/proc/${pid}/fd`)) {
    const target = await Deno.readLink(`/proc/${pid}/fd/${fd.name}`).catch(() => "");
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]);
  }
  const ports: number[] = [];
  for (const line of (await Deno.readTextFile("/proc/net/tcp")).split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[3] === "0A" && inodes.has(f[9])) {
      ports.push(parseInt(f[1].split(":")[1], 16));
    }
  }
  return ports;
}

/** The subject line of the certificate the server presents. */
async function servedSubject(port: number): Promise<string> {
  const r = await runProgram("openssl", ["s_client", "-connect", `127.0.0.1:${port}`], "");
  return /^subject=(.*)$/m.exec(r.stdout)?.[1] ?? "";
}

Deno.test("http limits: connections per IP and in total, head deadline, cert on SIGHUP", async (t) => {
  const httpPort = freePort();
  const server = await TestServer.start({
    limits: { max_connections: 50, max_connections_per_ip: 2, line_deadline: "2s" },
    tables: { http: { listen: `127.0.0.1:${httpPort}`, tls: "always" } },
  });
  const base = `https://127.0.0.1:${httpPort}`;
  const health = () => curl(["-k", `${base}/healthz`]);
  const open: tls.TLSSocket[] = [];
  let reloads = 0;
  const reload = async (edit: (config: string) => string) => {
    await Deno.writeTextFile(server.configPath, edit(await Deno.readTextFile(server.configPath)));
    server.process.kill("SIGHUP");
    reloads++;
    await server.waitForOutput(new RegExp(`(config\\.reloaded[\\s\\S]*){${reloads}}`));
  };
  try {
    await server.addUser(ANN, "ann's limits password");
    const made = await server.cli(["--token", ANN]);
    const token = /fsmtp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/.exec(made.out)![0];

    await t.step("over limits.max_connections_per_ip: 503, then answered again", async () => {
      open.push(await slowPost(httpPort, token), await slowPost(httpPort, token));
      const refused = await waitFor("a refusal", async () => {
        const r = await health();
        return r.status === 503 ? r : undefined;
      });
      assert.equal(refused.headers["retry-after"], "1");
      open.pop()!.destroy();
      await waitFor("a slot back", async () => (await health()).status === 200 || undefined);
    });

    await t.step("at limits.max_connections (lowered by SIGHUP): 503", async () => {
      await reload((c) =>
        c.replace(/^max_connections = 50$/m, "max_connections = 1")
          .replace(/^max_connections_per_ip = 2$/m, "max_connections_per_ip = 1")
      );
      await waitFor("a refusal", async () => (await health()).status === 503 || undefined);
      open.pop()!.destroy();
      await waitFor("the slot back", async () => (await health()).status === 200 || undefined);
      await reload((c) =>
        c.replace(/^max_connections = 1$/m, "max_connections = 50")
          .replace(/^max_connections_per_ip = 1$/m, "max_connections_per_ip = 2")
      );
    });

    await t.step("a request head trickled past limits.line_deadline: closed", async () => {
      const { socket, closed } = await connect(httpPort);
      open.push(socket);
      socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      const stillTrickling = setInterval(() => socket.write("X-Slow: 1\r\n"), 200);
      try {
        await closed;
      } finally {
        clearInterval(stillTrickling);
      }
      // A whole request, on a keep-alive connection, is answered as usual meanwhile.
      const ok = await health();
      assert.equal(ok.status, 200);
      assert.equal(json<{ status: string }>(ok).status, "ok");
    });

    await t.step("a local process that goes round the relay gets 403", async () => {
      const known = new Set([
        httpPort,
        server.smtpPort,
        server.submissionPort,
        server.submissionsPort,
        server.pop3Port,
        server.pop3sPort,
        server.imapPort,
        server.imapsPort,
      ]);
      const inner = (await listeningPorts(server.process.pid)).filter((p) => !known.has(p));
      assert.equal(inner.length, 1, `internal ports: ${inner}`);
      const direct = await curl([`http://127.0.0.1:${inner[0]}/healthz`]);
      assert.equal(direct.status, 403);
      assert.match(json<{ error: { message: string } }>(direct).error.message, /http\.listen/);
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
      await reload((c) => c);
      assert.match(await servedSubject(httpPort), /CN ?= ?reloaded\.test\.example/);
      assert.equal((await health()).status, 200);
    });
  } finally {
    for (const socket of open) socket.destroy();
    await server.stop();
    await server.cleanup();
  }
});
