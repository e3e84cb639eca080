/** Header-section helpers: address lists (RFC 5322 §3.4) and field removal. */
import assert from "node:assert/strict";
import { headerAddresses, parseAddressList } from "../../src/mime/header_addresses.ts";
import { removeHeaderFields } from "../../src/mime/header_fields.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("parseAddressList", () => {
  assert.deepEqual(parseAddressList("a@x.example"), ["a@x.example"]);
  assert.deepEqual(parseAddressList('"Doe, John" <J@X.example>, b@y.example'), [
    "j@x.example",
    "b@y.example",
  ]);
  assert.deepEqual(parseAddressList("Ann (the boss) <ann@x.example> (work)"), ["ann@x.example"]);
  assert.deepEqual(parseAddressList("team: a@x.example, b@y.example;"), [
    "a@x.example",
    "b@y.example",
  ]);
  assert.deepEqual(parseAddressList('"a@evil.example" <me@x.example>'), ["me@x.example"]);
  assert.deepEqual(parseAddressList("undisclosed-recipients:;"), []);
});

Deno.test("headerAddresses reads every field, unfolded, and stops at the body", () => {
  const m = bytes(
    "From: Ann\r\n <ann@x.example>\r\nTo: b@y.example\r\nfrom: c@z.example\r\n\r\n" +
      "From: body@not.header\r\n",
  );
  assert.deepEqual(headerAddresses(m, "From"), ["ann@x.example", "c@z.example"]);
});

Deno.test("removeHeaderFields drops whole folded fields and nothing else", () => {
  const m = bytes(
    "Authentication-Results: mx.example;\r\n dkim=pass\r\nSubject: s\r\n" +
      "Authentication-Results: other.example; spf=pass\r\n\r\nAuthentication-Results: body\r\n",
  );
  const out = new TextDecoder().decode(
    removeHeaderFields(
      m,
      (name, value) => name === "authentication-results" && value.trim().startsWith("mx.example"),
    ),
  );
  assert.equal(
    out,
    "Subject: s\r\nAuthentication-Results: other.example; spf=pass\r\n\r\n" +
      "Authentication-Results: body\r\n",
  );
  assert.equal(removeHeaderFields(m, () => false), m);
});

Deno.test("removeHeaderFields: the last field goes whole, and a body is never read as header", () => {
  const te = new TextEncoder();
  const td = new TextDecoder();
  const drop = (name: string) => name === "x-drop";
  assert.equal(
    td.decode(removeHeaderFields(te.encode("A: 1\r\nX-Drop: 2\r\n\r\nbody\r\n"), drop)),
    "A: 1\r\n\r\nbody\r\n",
  );
  const noHeader = te.encode("\r\nX-Drop: in the body\r\n");
  assert.equal(removeHeaderFields(noHeader, drop), noHeader);
});
