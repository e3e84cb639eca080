/** RFC 3461 parameters of MAIL and RCPT. */
import assert from "node:assert/strict";
import { decodeXtext, envelopeDsn, recipientDsn } from "../../src/smtp/dsn_params.ts";
import { SmtpError } from "../../src/smtp/reply.ts";

const params = (entries: [string, string | undefined][]) => new Map(entries);

Deno.test("DSN parameters (RFC 3461 §4)", async (t) => {
  await t.step("xtext decoding", () => {
    assert.equal(decodeXtext("rfc822;a+2Bb@x.example", "ORCPT"), "rfc822;a+b@x.example");
    assert.throws(() => decodeXtext("a+zz", "ENVID"), SmtpError);
    assert.throws(() => decodeXtext("a=b", "ENVID"), SmtpError);
  });
  await t.step("RET and ENVID", () => {
    assert.deepEqual(envelopeDsn(params([["RET", "hdrs"], ["ENVID", "QQ314159"]])), {
      ret: "HDRS",
      envid: "QQ314159",
    });
    assert.deepEqual(envelopeDsn(params([])), {});
    assert.throws(() => envelopeDsn(params([["RET", "SOME"]])), SmtpError);
    assert.throws(() => envelopeDsn(params([["ENVID", "x".repeat(101)]])), SmtpError);
  });
  await t.step("NOTIFY and ORCPT", () => {
    assert.deepEqual(recipientDsn(params([["NOTIFY", "SUCCESS,FAILURE"]])), {
      notify: ["SUCCESS", "FAILURE"],
    });
    assert.deepEqual(recipientDsn(params([["NOTIFY", "NEVER"]])), { notify: ["NEVER"] });
    assert.throws(() => recipientDsn(params([["NOTIFY", "NEVER,SUCCESS"]])), SmtpError);
    assert.throws(() => recipientDsn(params([["NOTIFY", "SOMETIMES"]])), SmtpError);
    assert.deepEqual(recipientDsn(params([["ORCPT", "rfc822;bob@example.net"]])), {
      orcpt: "rfc822;bob@example.net",
    });
    assert.throws(() => recipientDsn(params([["ORCPT", "bob@example.net"]])), SmtpError);
  });
});
