/**
 * POP3 clients someone else wrote against the real server: curl (pop3s, and pop3 with STLS
 * through --ssl-reqd), fetchmail (implicit TLS and STLS, --keep and the default delete) and
 * getmail6 (SSL and plain retrievers, keep and delete). What each delivers must be the stored
 * message: byte for byte from curl, with local (LF) line endings from fetchmail, and with
 * local line endings and header fields refolded from getmail.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProgram } from "../helpers/test_server.ts";
import { countMessages, readInbox } from "../helpers/read_mail.ts";
import { sendMail, startServer } from "../helpers/pop3_client.ts";

const USER = "fetch@test.example";
const PASSWORD = "fetch e2e password";
const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");

const MESSAGES: Uint8Array[] = [
  enc.encode("Subject: plain\r\nFrom: a@remote.test\r\n\r\nhello\r\n"),
  enc.encode("Subject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\nend.\r\n"),
  new Uint8Array([
    ...enc.encode("Subject: 8bit and UTF-8 Grüße ✉\r\nContent-Type: text/plain\r\n\r\n"),
    0xe9,
    0xff,
    0x80,
    ...enc.encode("\r\n日本語\r\n"),
  ]),
];

/** LF line endings, as a local MDA gets them; compared as latin1 text. */
const local = (b: Uint8Array) => latin1.decode(b).replaceAll("\r\n", "\n");

/**
 * `text` with its header fields unfolded: getmail re-folds header lines longer than 78
 * characters (Python's email package); the body must still be exact.
 */
function unfolded(text: string): string {
  const end = text.indexOf("\n\n");
  return text.slice(0, end).replace(/\n(?=[ \t])/g, "") + text.slice(end);
}

/** Files written by the MDA in `dir`, contents sorted so the order of delivery does not matter. */
async function delivered(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(latin1.decode(await Deno.readFile(join(dir, e.name))));
  }
  return out.sort();
}

Deno.test("curl, fetchmail and getmail6 end to end", async (t) => {
  const server = await startServer();
  const work = await Deno.makeTempDir({ prefix: "fsmtp-pop3-clients-" });
  const cert = join(server.dir, "keys", "cert.pem");
  let stored: Uint8Array[] = [];
  const auth = `${USER}:${PASSWORD}`;
  const curl = (url: string, ...extra: string[]) =>
    runProgram("curl", ["-sS", "--max-time", "60", ...extra, url]);
  const mdaDir = async (name: string) => {
    const dir = join(work, name);
    await Deno.mkdir(dir, { recursive: true });
    return dir;
  };
  /** An MDA script writing each message to its own file in `dir`. */
  const mda = async (dir: string) => {
    const script = join(work, `mda-${crypto.randomUUID()}.sh`);
    await Deno.writeTextFile(script, `#!/bin/sh\ncat > "$(mktemp ${dir}/m.XXXXXX)"\n`);
    await Deno.chmod(script, 0o755);
    return script;
  };
  try {
    await server.addUser(USER, PASSWORD);
    for (const m of MESSAGES) await sendMail(server.smtpPort, USER, m);
    stored = await readInbox(server.dbPath, USER, PASSWORD);
    assert.equal(stored.length, MESSAGES.length);

    await t.step("curl pop3s:// RETR is byte-identical (-k)", async () => {
      for (const [i, m] of stored.entries()) {
        const child = await new Deno.Command("curl", {
          args: ["-sS", "-k", "-u", auth, `pop3s://127.0.0.1:${server.pop3sPort}/${i + 1}`],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(child.code, 0, new TextDecoder().decode(child.stderr));
        assert.deepEqual(child.stdout, m, `message ${i + 1}`);
      }
    });

    await t.step("curl pop3:// --ssl-reqd (STLS) lists the stored sizes", async () => {
      const r = await curl(`pop3://127.0.0.1:${server.pop3Port}/`, "--ssl-reqd", "-k", "-u", auth);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, stored.map((m, i) => `${i + 1} ${m.length}\r\n`).join(""));
    });

    await t.step("curl with the server's certificate verified, UIDL", async () => {
      const r = await curl(
        `pop3s://mx.test.example:${server.pop3sPort}/`,
        "--cacert",
        cert,
        "--resolve",
        `mx.test.example:${server.pop3sPort}:127.0.0.1`,
        "-u",
        auth,
        "-X",
        "UIDL",
      );
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\r\n");
      assert.equal(lines.length, 3);
      assert.deepEqual(lines.map((l) => l.split(" ")[0]), ["1", "2", "3"]);
      assert.equal(new Set(lines.map((l) => l.split(" ")[1])).size, 3);
    });

    await t.step("curl over STLS RETR is byte-identical too", async () => {
      const child = await new Deno.Command("curl", {
        args: ["-sS", "--ssl-reqd", "-k", "-u", auth, `pop3://127.0.0.1:${server.pop3Port}/2`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(child.code, 0, new TextDecoder().decode(child.stderr));
      assert.deepEqual(child.stdout, stored[1]);
    });

    await t.step("curl with a wrong password: login denied", async () => {
      const r = await curl(
        `pop3s://127.0.0.1:${server.pop3sPort}/`,
        "-k",
        "-u",
        `${USER}:not the password`,
      );
      assert.equal(r.code, 67, r.stdout + r.stderr);
    });

    await t.step("getmail6 over SSL (certificate verified), keeping the mail", async () => {
      const dir = await mdaDir("getmail-ssl");
      const script = await mda(dir);
      const rc = join(work, "getmailrc-ssl");
      await Deno.writeTextFile(
        rc,
        [
          "[retriever]",
          "type = SimplePOP3SSLRetriever",
          "server = 127.0.0.1",
          `port = ${server.pop3sPort}`,
          `username = ${USER}`,
          `password = ${PASSWORD}`,
          `ca_certs = ${cert}`,
          "ssl_cert_hostname = mx.test.example",
          "[destination]",
          "type = MDA_external",
          `path = ${script}`,
          "allow_root_commands = true",
          "[options]",
          "read_all = true",
          "delete = false",
          "received = false",
          "delivered_to = false",
          "",
        ].join("\n"),
      );
      const r = await runProgram("getmail", [`--getmaildir=${work}`, `--rcfile=${rc}`]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /error/i);
      assert.deepEqual(
        (await delivered(dir)).map(unfolded).sort(),
        stored.map((m) => unfolded(local(m))).sort(),
      );
      assert.equal(await countMessages(server.dbPath, USER), 3);
    });

    await t.step("fetchmail over implicit TLS with --keep", async () => {
      const dir = await mdaDir("fetchmail-ssl");
      const r = await fetchmail(work, server.pop3sPort, await mda(dir), [
        "--ssl",
        "--sslcertck",
        "--sslcertfile",
        cert,
        "--sslcommonname",
        "mx.test.example",
        "--keep",
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await delivered(dir), stored.map(local).sort());
      assert.equal(await countMessages(server.dbPath, USER), 3);
    });

    await t.step(
      "fetchmail over STLS (--sslproto tls1.2+, no cert check) with --keep",
      async () => {
        const dir = await mdaDir("fetchmail-stls");
        const r = await fetchmail(work, server.pop3Port, await mda(dir), [
          "--sslproto",
          "tls1.2+",
          "--nosslcertck",
          "--keep",
          "-v",
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout + r.stderr, /POP3> STLS/);
        assert.deepEqual(await delivered(dir), stored.map(local).sort());
        assert.equal(await countMessages(server.dbPath, USER), 3);
      },
    );

    await t.step("fetchmail with a wrong password fails with its auth error", async () => {
      const dir = await mdaDir("fetchmail-wrong");
      const r = await fetchmail(work, server.pop3sPort, await mda(dir), [
        "--ssl",
        "--nosslcertck",
        "--keep",
      ], "not the password");
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.deepEqual(await delivered(dir), []);
    });

    await t.step("curl DELE then fetchmail's default delete empties the maildrop", async () => {
      const del = await curl(
        `pop3s://127.0.0.1:${server.pop3sPort}/1`,
        "-k",
        "-u",
        auth,
        "-X",
        "DELE",
        "-I",
      );
      assert.equal(del.code, 0, del.stderr);
      assert.equal(await countMessages(server.dbPath, USER), 2);
      const dir = await mdaDir("fetchmail-delete");
      const r = await fetchmail(work, server.pop3sPort, await mda(dir), ["--ssl", "--nosslcertck"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await delivered(dir), stored.slice(1).map(local).sort());
      assert.equal(await countMessages(server.dbPath, USER), 0);
      // Nothing left: fetchmail says so with exit code 1.
      const again = await fetchmail(work, server.pop3sPort, await mda(dir), [
        "--ssl",
        "--nosslcertck",
      ]);
      assert.equal(again.code, 1, again.stdout + again.stderr);
    });

    await t.step("getmail6 over plain POP3 from loopback, deleting", async () => {
      await sendMail(server.smtpPort, USER, MESSAGES[0]);
      const [fresh] = await readInbox(server.dbPath, USER, PASSWORD);
      const dir = await mdaDir("getmail-plain");
      const rc = join(work, "getmailrc-plain");
      await Deno.writeTextFile(
        rc,
        [
          "[retriever]",
          "type = SimplePOP3Retriever",
          "server = 127.0.0.1",
          `port = ${server.pop3Port}`,
          `username = ${USER}`,
          `password = ${PASSWORD}`,
          "[destination]",
          "type = MDA_external",
          `path = ${await mda(dir)}`,
          "allow_root_commands = true",
          "[options]",
          "read_all = true",
          "delete = true",
          "received = false",
          "delivered_to = false",
          "",
        ].join("\n"),
      );
      const r = await runProgram("getmail", [`--getmaildir=${work}`, `--rcfile=${rc}`]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual((await delivered(dir)).map(unfolded), [unfolded(local(fresh))]);
      assert.equal(await countMessages(server.dbPath, USER), 0);
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await Deno.remove(work, { recursive: true });
  }
});

/**
 * Runs fetchmail once against 127.0.0.1:`port`. The run control file holds only the password
 * (fetchmail reads it nowhere else without a terminal); everything else is on the command line.
 */
async function fetchmail(
  work: string,
  port: number,
  mda: string,
  options: string[],
  password = PASSWORD,
) {
  const home = join(work, "fetchmail-home");
  await Deno.mkdir(home, { recursive: true });
  const rc = join(home, "fetchmailrc");
  await Deno.writeTextFile(
    rc,
    `poll 127.0.0.1 user "${USER}" password "${password}"\n`,
    { mode: 0o600 },
  );
  await Deno.chmod(rc, 0o600);
  const child = await new Deno.Command("fetchmail", {
    args: [
      "--nosyslog",
      "--fetchmailrc",
      rc,
      "--pidfile",
      join(home, "fetchmail.pid"),
      "-p",
      "POP3",
      "-P",
      String(port),
      "-u",
      USER,
      "--all",
      "--invisible",
      "--mda",
      mda,
      ...options,
      "127.0.0.1",
    ],
    env: { HOME: home, FETCHMAILHOME: home },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: child.code,
    stdout: new TextDecoder().decode(child.stdout),
    stderr: new TextDecoder().decode(child.stderr),
  };
}
