/**
 * The command line as an operator uses it: help, flags in both forms, user management,
 * password changes that keep old mail readable, the self-test, config errors, signals.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, TestServer } from "../helpers/test_server.ts";
import { readInbox } from "../helpers/read_mail.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { MailboxReader } from "../../src/mail/mailbox_reader.ts";

async function sendOne(port: number, to: string, subject: string): Promise<void> {
  const c = await RawClient.connect(port);
  try {
    await c.reply();
    await c.command("EHLO cli.test");
    await c.command("MAIL FROM:<cli@remote.test>");
    assert.equal((await c.command(`RCPT TO:<${to}>`)).code, 250);
    await c.command("DATA");
    assert.equal((await c.command(`Subject: ${subject}\r\n\r\nbody of ${subject}\r\n.`)).code, 250);
    await c.command("QUIT");
  } finally {
    c.close();
  }
}

Deno.test("cli: help, unknown flags, and commands that come later", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  for (const word of ["--run", "--adduser", "--deluser", "--passwd", "--users", "--test"]) {
    assert.ok(help.out.includes(word), word);
  }
  assert.equal((await runCli(["-h"])).code, 0);
  const unknown = await runCli(["--frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.out, /frobnicate/);
  assert.match(unknown.out, /Usage: fsmtp/);
  const mailtest = await runCli(["--mailtest"]);
  assert.equal(mailtest.code, 2);
  assert.match(mailtest.out, /needs --from ADDRESS and at least one --to ADDRESS/);
  for (const sync of [["--sync"], ["-s"], ["-sync"]]) {
    const r = await runCli(sync);
    assert.equal(r.code, 1, sync.join(" "));
    assert.match(r.out, /redis\.url is not set/);
  }
  assert.equal((await runCli(["--run=bogus"])).code, 2);
});

Deno.test("cli: config errors name the key or file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await runCli(["--users", "--config", join(dir, "nope.toml")]);
    assert.equal(missing.code, 1);
    assert.match(missing.out, /nope\.toml/);
    const bad = join(dir, "bad.toml");
    await Deno.writeTextFile(bad, '[limits]\nmax_recipients = "lots"\n');
    const r = await runCli(["--users", "--config", bad]);
    assert.equal(r.code, 1);
    assert.match(r.out, /limits\.max_recipients in .*bad\.toml/);
    await Deno.writeTextFile(bad, 'hostname = "ok.example"\n[listen]\nsmtp = "nowhere"\n');
    assert.match((await runCli(["--users", "--config", bad])).out, /listen\.smtp/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: users, passwords, self-test and signals against a running server", async (t) => {
  const server = await TestServer.start({ domains: ["test.example", "other.example"] });
  const user = "erin@test.example";
  try {
    await t.step("--adduser (original single-dash form) and --users", async () => {
      const add = await server.cli(["-adduser", user, "--password-stdin"], "first password\n");
      assert.equal(add.code, 0, add.out);
      assert.doesNotMatch(add.out, /first password/);
      const again = await server.cli(["--adduser", user, "--password-stdin"], "whatever123\n");
      assert.equal(again.code, 1);
      assert.match(again.out, /exists already/);
      const list = await server.cli(["--users"]);
      assert.equal(list.out.trim(), user);
    });

    await t.step(
      "--adduser refuses foreign domains, routing characters, short passwords",
      async () => {
        for (const bad of ["x@elsewhere.example", "a%b@test.example", "a!b@test.example"]) {
          const r = await server.cli(["--adduser", bad, "--password-stdin"], "long enough pw\n");
          assert.equal(r.code, 1, bad);
        }
        const short = await server.cli(["-a", "short@test.example", "--password-stdin"], "abc\n");
        assert.equal(short.code, 1);
        assert.match(short.out, /at least 8/);
      },
    );

    await t.step("--recovery-key prints a key that can reset a forgotten password", async () => {
      const r = await server.cli(
        ["--adduser", "frank@other.example", "--password-stdin", "--recovery-key"],
        "frank's password\n",
      );
      assert.equal(r.code, 0, r.out);
      const key = /^\s+([0-9A-Z]{4}(?:-[0-9A-Z]{4})+)$/m.exec(r.out)?.[1];
      assert.ok(key, r.out);
      await sendOne(server.smtpPort, "frank@other.example", "before reset");
      const reset = await server.cli(
        ["--passwd", "frank@other.example", "--password-stdin", "--recovery-key"],
        `${key}\nfrank's new password\n`,
      );
      assert.equal(reset.code, 0, reset.out);
      const mail = await readInbox(server.dbPath, "frank@other.example", "frank's new password");
      assert.match(new TextDecoder().decode(mail[0]), /before reset/);
    });

    await t.step("mail delivered, a message key RSA-unwrapped once then symmetric", async () => {
      await sendOne(server.smtpPort, user, "old mail");
      const store = SqliteMailStore.open(server.dbPath);
      try {
        const reader = await MailboxReader.open(store, user, "first password");
        assert.ok(reader);
        const [meta] = await reader.list();
        assert.equal((await store.getMessage(meta.mailboxId, meta.uid))?.keyWrap, "rsa");
        const first = await reader.read(meta.mailboxId, meta.uid);
        await reader.settled();
        assert.equal((await store.getMessage(meta.mailboxId, meta.uid))?.keyWrap, "sym");
        assert.deepEqual(await reader.read(meta.mailboxId, meta.uid), first);
        assert.equal(await MailboxReader.open(store, user, "wrong password"), undefined);
      } finally {
        await store.close();
      }
    });

    await t.step("--passwd: wrong current password changes nothing", async () => {
      const r = await server.cli(["--passwd", user, "--password-stdin"], "nope\nnew password 2\n");
      assert.equal(r.code, 1);
      assert.match(r.out, /wrong current password/);
    });

    await t.step("--passwd: old mail stays readable with the new password only", async () => {
      const r = await server.cli(
        ["--passwd", user, "--password-stdin"],
        "first password\nsecond password\n",
      );
      assert.equal(r.code, 0, r.out);
      await sendOne(server.smtpPort, user, "new mail");
      const mail = (await readInbox(server.dbPath, user, "second password")).map((m) =>
        new TextDecoder().decode(m)
      );
      assert.equal(mail.length, 2);
      assert.match(mail[0], /body of old mail/);
      assert.match(mail[1], /body of new mail/);
      await assert.rejects(() => readInbox(server.dbPath, user, "first password"));
    });

    await t.step("logs carry no password and no message body", () => {
      for (const secret of ["first password", "second password", "body of old mail"]) {
        assert.equal(server.output.text.includes(secret), false, secret);
      }
      assert.match(server.output.text, /smtp\.delivered cid=\w+ id=\w+/);
    });

    await t.step("--test fails on the port the server holds, names it", async () => {
      const r = await server.cli(["--test"]);
      assert.equal(r.code, 1);
      assert.match(r.out, /^OK {3}config: /m);
      assert.match(r.out, /^OK {3}tls keys: /m);
      assert.match(r.out, /^OK {3}dkim key: /m);
      assert.match(r.out, /^OK {3}store: .* round-trips a write/m);
      assert.match(r.out, /^FAIL port smtp: .*listen\.smtp/m);
    });

    await t.step("--deluser removes the user and their mail", async () => {
      const r = await server.cli(["--deluser", "frank@other.example"]);
      assert.equal(r.code, 0, r.out);
      assert.equal((await server.cli(["--users"])).out.trim(), user);
      assert.equal((await server.cli(["--deluser", "frank@other.example"])).code, 1);
    });

    await t.step("SIGHUP re-reads the config", async () => {
      const text = await Deno.readTextFile(server.configPath);
      await Deno.writeTextFile(
        server.configPath,
        text.replace(/^domains = .*$/m, 'domains = ["test.example", "third.example"]'),
      );
      server.process.kill("SIGHUP");
      await server.waitForOutput(/config\.reloaded/);
      const r = await server.cli(
        ["--adduser", "gina@third.example", "--password-stdin"],
        "gina's pw\n",
      );
      assert.equal(r.code, 0, r.out);
      await sendOne(server.smtpPort, "gina@third.example", "after reload");
    });

    await t.step("SIGTERM: idle sessions get 421, the server exits 0", async () => {
      const idle = await RawClient.connect(server.smtpPort);
      await idle.reply();
      const code = await server.stop();
      assert.equal(code, 0);
      const bye = await idle.reply();
      assert.equal(bye.code, 421);
      idle.close();
      assert.match(server.output.text, /fsmtp\.stopped/);
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

Deno.test("cli: --test passes on a fresh setup once keys exist; --dns-records", async () => {
  const server = await TestServer.start();
  await server.stop();
  try {
    const records = await server.cli(["--dns-records"]);
    assert.equal(records.code, 0, records.out);
    assert.match(records.out, /^test\.example\.\t1800\tIN\tMX\t10 mx\.test\.example\.$/m);
    assert.match(records.out, /^test\.example\.\t1800\tIN\tTXT\t"v=spf1 mx -all"$/m);
    assert.match(records.out, /^_dmarc\.test\.example\.\t1800\tIN\tTXT\t"v=DMARC1; /m);
    const dkim = /^default\._domainkey\.test\.example\.\t1800\tIN\tTXT\t(.*)$/m.exec(records.out);
    assert.ok(dkim, records.out);
    const published = dkim[1].replace(/" "/g, "").replace(/"/g, "");
    const pem = await Deno.readTextFile(join(server.dir, "keys", "dkim-public.pem"));
    const spki = pem.replace(/-----[^-]+-----|\s/g, "");
    assert.equal(published, `v=DKIM1; k=rsa; p=${spki}`);
    assert.equal((await server.cli(["--dns-records", "elsewhere.example"])).code, 1);
    const r = await server.cli(["--test"]);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /^FAIL/m);
  } finally {
    await server.cleanup();
  }
});
