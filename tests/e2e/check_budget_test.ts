/**
 * The inbound checks' time budget (`inbound.check_budget`) against a resolver that never
 * answers (a UDP socket on 127.0.0.1 that reads queries and replies to none): the message is
 * accepted once the budget is spent, not after the lookups' own timeouts, and its stored
 * Authentication-Results records temperror for DKIM, SPF and DMARC (RFC 8601 §2.7).
 */
import assert from "node:assert/strict";
import { RawClient } from "../helpers/raw_client.ts";
import { SilentDns } from "../helpers/silent_dns.ts";
import { startServer } from "../helpers/pop3_client.ts";
import { readMailboxText } from "../helpers/read_mail.ts";

const USER = "budget@test.example";
const PASSWORD = "check budget e2e password";
const BUDGET_MS = 2000;
/**
 * Slack for a loaded machine. Without the budget one lookup alone would wait its own timeout
 * (10 s) and the checks ask several in turn, so a reply within this bound shows the budget.
 */
const SLACK_MS = 4000;

/**
 * The body's hash (RFC 6376 §3.7), so the verifier gets as far as looking up the key: the
 * relaxed canonical form of "body\r\n" is itself.
 */
const BODY_HASH = btoa(String.fromCharCode(
  ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("body\r\n"))),
));

/** A message signed (in form only: b= is no signature) by slow.example, from slow.example. */
function message(subject: string): string {
  return [
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=slow.example; s=sel;",
    ` h=from:subject; bh=${BODY_HASH}; b=AAAA`,
    "From: Alice <alice@slow.example>",
    `To: ${USER}`,
    `Subject: ${subject}`,
    "",
    "body",
    "",
  ].join("\r\n");
}

/** Sends one message; resolves with the DATA reply and how long it took after the data. */
async function send(port: number, subject: string): Promise<{ code: number; ms: number }> {
  const c = await RawClient.connect(port);
  try {
    await c.reply();
    assert.equal((await c.command("EHLO client.slow.example")).code, 250);
    assert.equal((await c.command("MAIL FROM:<alice@slow.example>")).code, 250);
    assert.equal((await c.command(`RCPT TO:<${USER}>`)).code, 250);
    assert.equal((await c.command("DATA")).code, 354);
    const started = performance.now();
    await c.send(message(subject) + ".\r\n");
    const r = await c.reply(60_000);
    const ms = performance.now() - started;
    await c.command("QUIT");
    return { code: r.code, ms };
  } finally {
    c.close();
  }
}

Deno.test("inbound check budget with a resolver that never answers", async (t) => {
  const silent = await SilentDns.start();
  const server = await startServer({
    tables: {
      outbound: { resolver: silent.address },
      inbound: { checks: true, check_budget: `${BUDGET_MS}ms` },
    },
  });
  try {
    await server.addUser(USER, PASSWORD);

    for (const [i, subject] of ["first", "second"].entries()) {
      await t.step(`the ${subject} message is accepted within the budget`, async () => {
        const r = await send(server.smtpPort, subject);
        assert.equal(r.code, 250);
        assert.ok(r.ms < BUDGET_MS + SLACK_MS, `the 250 came after ${r.ms.toFixed(0)} ms`);
        assert.ok(silent.queries > 0, "the checks asked the silent resolver");
        const stored = (await readMailboxText(server.dbPath, USER, PASSWORD))[i];
        assert.match(stored, new RegExp(`Subject: ${subject}`));
        const results = /^Authentication-Results: [^]*?\r\n(?![ \t])/m.exec(stored)?.[0] ?? "";
        assert.match(results, /^Authentication-Results: mx\.test\.example;/);
        for (const method of ["dkim", "spf", "dmarc"]) {
          assert.match(results, new RegExp(`\\b${method}=temperror\\b`), results);
        }
      });
    }
  } finally {
    await server.stop();
    await server.cleanup();
    await silent.stop();
  }
});
