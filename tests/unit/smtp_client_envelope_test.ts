/**
 * MAIL/RCPT lines and the checks made before a transaction: SIZE (RFC 1870), 8BITMIME
 * (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC 3461) parameters and xtext.
 */
import assert from "node:assert/strict";
import {
  type Envelope,
  mailCommand,
  type PeerCapabilities,
  precheck,
  rcptCommand,
  xtext,
} from "../../src/smtp_client/envelope.ts";

function peer(keywords: string[], maxSize?: number): PeerCapabilities {
  const set = new Set(keywords);
  return { supports: (k) => set.has(k.toUpperCase()), maxSize };
}

const ALL = peer(["SIZE", "8BITMIME", "SMTPUTF8", "DSN", "PIPELINING"], 1000);
const NONE = peer([]);

Deno.test("outbound envelope", async (t) => {
  const env: Envelope = { from: "a@example.org", recipients: ["b@example.net"] };

  await t.step("plain MAIL and RCPT to a peer without extensions", () => {
    assert.equal(mailCommand(env, 10, NONE), "MAIL FROM:<a@example.org>");
    assert.equal(rcptCommand("b@example.net", env, NONE), "RCPT TO:<b@example.net>");
    assert.equal(mailCommand({ ...env, from: "" }, 10, NONE), "MAIL FROM:<>");
  });

  await t.step("SIZE, BODY=8BITMIME and SMTPUTF8 when offered and needed", () => {
    assert.equal(mailCommand(env, 10, ALL), "MAIL FROM:<a@example.org> SIZE=10");
    assert.equal(
      mailCommand({ ...env, needs8bit: true, needsSmtputf8: true }, 10, ALL),
      "MAIL FROM:<a@example.org> SIZE=10 BODY=8BITMIME SMTPUTF8",
    );
  });

  await t.step("DSN parameters only to a peer offering DSN", () => {
    const withDsn: Envelope = {
      ...env,
      dsn: {
        envid: "id+1=2",
        ret: "HDRS",
        recipients: {
          "b@example.net": { notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;B@example.net" },
        },
      },
    };
    assert.equal(
      mailCommand(withDsn, 5, ALL),
      "MAIL FROM:<a@example.org> SIZE=5 RET=HDRS ENVID=id+2B1+3D2",
    );
    assert.equal(
      rcptCommand("b@example.net", withDsn, ALL),
      "RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B@example.net",
    );
    assert.equal(rcptCommand("b@example.net", withDsn, NONE), "RCPT TO:<b@example.net>");
    const never: Envelope = {
      ...env,
      dsn: { recipients: { "b@example.net": { notify: "NEVER" } } },
    };
    assert.equal(rcptCommand("b@example.net", never, ALL), "RCPT TO:<b@example.net> NOTIFY=NEVER");
  });

  await t.step("xtext escapes +, =, controls, space and non-ASCII (RFC 3461 §4)", () => {
    assert.equal(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
    assert.equal(xtext("é"), "+C3+A9");
  });

  await t.step("precheck: SMTPUTF8 needed and not offered is 5.6.7 (RFC 6531 §3.2)", () => {
    assert.match(precheck({ ...env, needsSmtputf8: true }, 1, NONE)!, /^5\.6\.7 .*SMTPUTF8/);
    assert.equal(precheck({ ...env, needsSmtputf8: true }, 1, ALL), undefined);
  });

  await t.step("precheck: 8-bit to a peer without 8BITMIME is 5.6.3", () => {
    assert.match(precheck({ ...env, needs8bit: true }, 1, NONE)!, /^5\.6\.3 .*8BITMIME/);
    assert.equal(precheck({ ...env, needs8bit: true }, 1, ALL), undefined);
  });

  await t.step("precheck: over the peer's SIZE is 5.3.4; SIZE 0 means no limit", () => {
    assert.match(precheck(env, 1001, ALL)!, /^5\.3\.4 /);
    assert.equal(precheck(env, 1000, ALL), undefined);
    assert.equal(precheck(env, 10 ** 9, peer(["SIZE"])), undefined);
  });

  await t.step("precheck: control characters in an address never reach the wire", () => {
    assert.match(precheck({ ...env, recipients: ["x@y\r\nDATA"] }, 1, ALL)!, /^5\.1\.3 /);
    assert.equal(precheck({ ...env, recipients: ['"a b"@example.net'] }, 1, ALL), undefined);
  });
});
