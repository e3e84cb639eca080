/**
 * DKIM signing: RFC 8463 Appendix A reproduced octet for octet, and signatures over fixed
 * messages checked by node:crypto against hash inputs written out by hand in this file.
 */
import assert from "node:assert/strict";
import { createHash, createPrivateKey, createPublicKey, verify } from "node:crypto";
import { Buffer } from "node:buffer";
import {
  dkimSelector,
  dkimSign,
  headerHashInput,
  SIGNED_HEADERS,
  signMessage,
} from "../../src/dkim/sign.ts";
import { canonicalizeBodyRelaxed } from "../../src/dkim/canonicalize.ts";
import { splitMessage } from "../../src/dkim/message.ts";
import { importDkimPrivateKey } from "../../src/dkim/keys.ts";

const enc = new TextEncoder();
const crlf = (text: string) => enc.encode(text.replace(/\r?\n/g, "\r\n"));

/** A fixed RSA-2048 key made for this test with `openssl genpkey`. */
const RSA_PEM = `
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Py2R8aJbKPrO
FO6KbqBHIa+FXLBXzzl5GhKWd8gCkKYYUkYbkgzeclDfzwKWT20v6LLJcdvahCmU
k9WNeA0teMMh9xli7mXT2mhY/WF6kiQkjuvCjL+NNKwYxNFcUPPX4TsFIVRPa49y
wf5hBxRMJUvnsnkR6IPJVLP9QuCWr7ksgr7IKW+b7GUXUlZWYXAfdDIhmpMnzUV0
Yr//Y8OTNsvOst5a5t8KcGoRJlPrvEAR9I+XG2IcnQVv12panVkcujUmQphT9dGw
dlZX79+y5zvMykyzOV1jMSKG30wYt3CZoyzMe3q8b0NaNQbREK4gAp0/6OZceEVT
EesqRASbAgMBAAECggEAU45symyWc7GEwgOrMtEM6tEIXy2ub3DEh9rvon+PHD3q
MH4+VL1GytkeZ9EbqXGGGtPvPF93qTpCx890g22oC7uQ8A4xIOmbPP+Agv2Gy0h9
oma4pBdkvyFbDq59coGZXqNeT/rAgbRQzfftiOS81QHrrlgBGNG2RVhr/T8js3mx
Awwz5DkxOkj0jFWBAZXOvj3vjuZ2rx30E6leyn4GQWbbNf9fagNEwUa8yyf2rto/
voezEYYECHLT3I/mNk1191NpCyajZNZ5HG8MXg0lHN9l2NdHdbwinTII6e0rCQR/
NyyqK0jGl0BRvJo1XwtG5UjBtM9/0KH20xz+NQ9UqQKBgQDqLoVR5Z/4wICQXOCN
k/e4mUPLTp5obhGyubjjCjJWr/jHTrazEKKab/rP+Ix5PVOkwgaoC/jQUUFKZheP
wCIx5Uhvl6U20ZvB+t90pH5yQQ7n7t7XrrKv9/w8vLAgRh5p3CSHg5HZH+UBb+q0
NkNO7DftjoCBXwb6YYLCDPlZhwKBgQDMsTW/KlMk4Aqh0IwEEIO2WcsftglcvRsk
xPZvmY/IcCy9xZj6Y5FEWEBYHvMSmeHHK3vrDT+Qv6WtuGvolwj1rn/RbA7m6Q8x
Jiak8OySey5BdvMdKEeLDJL9TWjFOnsxINCBsWe8uuGFxifi2Eg2TyZfN0Q8jAzH
j0QqWSTxTQKBgQCGAi8aqXt8vrQTaIK7oeQNR+9qpUey3OHV07/AdLJPtw13CE02
dRuHovL1FfdU3cpCqyFiAs/Ubdsd9wQep8UpplpoOXA6yYIHZEeBGSyetyoPgTsW
U4s/dXprS1LCdT2sOGTTA3Bvvneu9dtqWu7zd+udToGtBrMYjrpjz0bVewKBgAX3
+OA9JLWDjuvO//YyYRTVI3YmQbmhjgQRdjok2St4EeXquB48/wRmKmInbOES+aFs
JC3jcgIPhI4/PW5H0SwQzYtWwkx7aUT+nsvadpuC2gNwq4AjJ4rnb/XQ5wgxP1xc
X5gYizTWojLbZ1hXBCwJPM4z91ponwrGo680cD5VAoGARUIdlcnn1/GZ4ASBg4Ou
jwsATdNITInl3WaV86R7wvq3z7Zat5hwrwgMcad2wcjnNybZzrMuGdCe7gauPDJQ
AUvnqvZdGp+x3E2scbZw0oVstloHAWAYSzb21S98ILLafXWNP7zv0kcuvWPyl3eh
gBm5O5nvLieck0okF0iUdsQ=
-----END PRIVATE KEY-----
`;

/** RFC 8463 Appendix A.1: the Ed25519 secret key (seed), and A.2: its public key. */
const RFC8463_SEED = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const RFC8463_PUBLIC = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
/** RFC 8463 Appendix A.3: the signed message (the ed25519 signature and the message). */
const RFC8463_MESSAGE = `DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=brisbane; t=1528637909; h=from : to :
 subject : date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus
 Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==
From: Joe SixPack <joe@football.example.com>
To: Suzie Q <suzie@shopping.example.net>
Subject: Is dinner ready?
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)
Message-ID: <20030712040037.46341.5F8J@football.example.com>

Hi.

We lost the game.  Are you hungry yet?

Joe.
`;
const RFC8463_B =
  "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

/** PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410 §7). */
function ed25519Pkcs8(seed: Uint8Array): Uint8Array<ArrayBuffer> {
  const prefix = [0x30, 0x2e, 2, 1, 0, 0x30, 5, 6, 3, 0x2b, 0x65, 0x70, 4, 0x22, 4, 0x20];
  return new Uint8Array([...prefix, ...seed]);
}

function sha256(data: Uint8Array | string): Buffer {
  return createHash("sha256").update(data).digest();
}

/** Parses the tags of one DKIM-Signature field (unfolded, WSP removed from values). */
function tags(field: string): Map<string, string> {
  const value = field.slice(field.indexOf(":") + 1).replace(/\r\n/g, "");
  return new Map(
    value.split(";").filter((s) => s.trim()).map((s) => {
      const eq = s.indexOf("=");
      return [s.slice(0, eq).trim(), s.slice(eq + 1).replace(/[ \t]+/g, "")];
    }),
  );
}

/** The relaxed form of a produced DKIM-Signature field with b= emptied (RFC 6376 §3.7). */
function relaxedUnsigned(field: string): string {
  const noB = field.replace(/\r\n$/, "").replace(/b=[^;]*$/, "b=");
  const value = noB.slice(noB.indexOf(":") + 1).replace(/\r\n/g, "").replace(/[ \t]+/g, " ");
  return "dkim-signature:" + value.trim();
}

/** Splits the output of signMessage into its fields. */
function fields(out: string): string[] {
  return out.split(/\r\n(?=DKIM-Signature:)/).map((f) => f.endsWith("\r\n") ? f : f + "\r\n");
}

Deno.test("DKIM signing", async (t) => {
  const rsaKey = await importDkimPrivateKey(RSA_PEM, "rsa-sha256");
  const rsaPublic = createPublicKey(createPrivateKey(RSA_PEM));
  const seed = Uint8Array.from(atob(RFC8463_SEED), (c) => c.charCodeAt(0));
  const edKey = await crypto.subtle.importKey("pkcs8", ed25519Pkcs8(seed), "Ed25519", false, [
    "sign",
  ]);
  const edPublic = createPublicKey(
    createPrivateKey({ key: Buffer.from(ed25519Pkcs8(seed)), format: "der", type: "pkcs8" }),
  );
  const now = new Date(1528637909 * 1000);

  await t.step("RFC 8463 Appendix A: ed25519-sha256 b= reproduced exactly", async () => {
    const rawPublic = edPublic.export({ format: "jwk" }).x;
    assert.equal(Buffer.from(rawPublic!, "base64url").toString("base64"), RFC8463_PUBLIC);
    const { headers, body } = splitMessage(crlf(RFC8463_MESSAGE));
    assert.equal(
      sha256(canonicalizeBodyRelaxed(body)).toString("base64"),
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=",
    );
    const signature = headers[0].raw;
    const unsigned = signature.slice(0, signature.indexOf(" b=") + 3);
    const h = ["from", "to", "subject", "date", "message-id", "from", "subject", "date"];
    const data = headerHashInput(headers, h, unsigned, "relaxed");
    const b = await dkimSign({ algorithm: "ed25519-sha256", key: edKey }, data);
    assert.equal(Buffer.from(b).toString("base64"), RFC8463_B);
  });

  const message = crlf(
    "Received: from x by y; Fri, 11 Jul 2003 21:01:54 -0700\n" +
      "From: Joe SixPack <joe@football.example.com>\n" +
      "To: Suzie Q <suzie@shopping.example.net>,\n" +
      "\tBob  <bob@example.net>\n" +
      "Subject:   Is   dinner ready? \n" +
      "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n" +
      "Message-ID: <20030712040037.46341.5F8J@football.example.com>\n" +
      "X-Mailer: not signed\n" +
      "\n" +
      "Hi.  \n" +
      "  \n" +
      "We lost the game.\tAre you hungry yet?\n" +
      "\n\n",
  );
  /** The signed header fields of `message` in relaxed form, written out by hand. */
  const expectedHeaders = "from:Joe SixPack <joe@football.example.com>\r\n" +
    "to:Suzie Q <suzie@shopping.example.net>, Bob <bob@example.net>\r\n" +
    "subject:Is dinner ready?\r\n" +
    "date:Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
    "message-id:<20030712040037.46341.5F8J@football.example.com>\r\n";
  const expectedBh = sha256("Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n").toString(
    "base64",
  );

  await t.step("rsa-sha256 then ed25519-sha256, verified by node:crypto", async () => {
    const out = await signMessage(message, {
      domain: "football.example.com",
      selector: "default",
      keys: [{ algorithm: "ed25519-sha256", key: edKey }, { algorithm: "rsa-sha256", key: rsaKey }],
      now,
    });
    const [rsa, ed, ...rest] = fields(out);
    assert.equal(rest.length, 0);
    assert.ok(out.endsWith("\r\n"));
    for (const line of out.split("\r\n")) assert.ok(line.length <= 78, line);
    for (
      const [field, algorithm, selector] of [
        [rsa, "rsa-sha256", "default"],
        [ed, "ed25519-sha256", "default-ed25519"],
      ] as const
    ) {
      assert.match(field, /^DKIM-Signature: v=1; a=/);
      const tag = tags(field);
      assert.deepEqual([...tag.keys()], ["v", "a", "c", "d", "s", "t", "h", "bh", "b"]);
      assert.equal(tag.get("a"), algorithm);
      assert.equal(tag.get("c"), "relaxed/relaxed");
      assert.equal(tag.get("d"), "football.example.com");
      assert.equal(tag.get("s"), selector);
      assert.equal(tag.get("s"), dkimSelector("default", algorithm));
      assert.equal(tag.get("t"), "1528637909");
      assert.equal(tag.get("h")!.replace(/\s/g, ""), "From:From:To:Subject:Date:Message-ID");
      assert.equal(tag.get("bh"), expectedBh);
      const data = expectedHeaders + relaxedUnsigned(field);
      const b = Buffer.from(tag.get("b")!, "base64");
      if (algorithm === "rsa-sha256") {
        assert.equal(b.length, 256);
        assert.ok(verify("sha256", Buffer.from(data), rsaPublic, b));
      } else {
        assert.equal(b.length, 64);
        assert.ok(verify(null, sha256(data), edPublic, b));
      }
    }
  });

  await t.step("deterministic: same input, same output (PKCS#1 v1.5 and Ed25519)", async () => {
    const opts = {
      domain: "football.example.com",
      selector: "s1",
      keys: [{ algorithm: "rsa-sha256", key: rsaKey }, { algorithm: "ed25519-sha256", key: edKey }],
      now,
    } as const;
    assert.equal(await signMessage(message, opts), await signMessage(message, opts));
  });

  await t.step("repeated fields: each instance signed bottom-up, From oversigned", async () => {
    const msg = crlf(
      "From: a@example.org\nSubject: first\nTo: t@example.net\nSubject:  second\n" +
        "Cc: c@example.net\nReply-To: r@example.org\n\nbody\n",
    );
    const out = await signMessage(msg, {
      domain: "example.org",
      selector: "default",
      keys: [{ algorithm: "rsa-sha256", key: rsaKey }],
      now,
    });
    const tag = tags(out);
    assert.equal(tag.get("h"), "From:From:To:Cc:Subject:Subject:Reply-To");
    // §5.4.2: the first "Subject" in h= is the bottom-most instance.
    const data = "from:a@example.org\r\nto:t@example.net\r\ncc:c@example.net\r\n" +
      "subject:second\r\nsubject:first\r\nreply-to:r@example.org\r\n" + relaxedUnsigned(out);
    assert.ok(verify("sha256", Buffer.from(data), rsaPublic, Buffer.from(tag.get("b")!, "base64")));
  });

  await t.step("every listed header present: h= folds after a colon, lines ≤ 78", async () => {
    const head = SIGNED_HEADERS.map((name) => `${name}: value of ${name}\n`).join("");
    const out = await signMessage(crlf(head + "\n"), {
      domain: "a-rather-long-subdomain.of.some-example-domain.example.org",
      selector: "selector-2024-with-a-long-name",
      keys: [{ algorithm: "rsa-sha256", key: rsaKey }],
      now,
    });
    for (const line of out.split("\r\n")) assert.ok(line.length <= 78, line);
    assert.equal(tags(out).get("h"), ["From", ...SIGNED_HEADERS].join(":"));
    assert.equal(tags(out).get("bh"), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    const b = Buffer.from(tags(out).get("b")!, "base64");
    const data = SIGNED_HEADERS.map((n) => `${n.toLowerCase()}:value of ${n}\r\n`).join("") +
      relaxedUnsigned(out);
    assert.ok(verify("sha256", Buffer.from(data), rsaPublic, b));
  });

  await t.step("refusals: no From, bad domain or selector, mismatched key", async () => {
    const opts = { domain: "example.org", selector: "default", keys: [] };
    await assert.rejects(signMessage(crlf("To: x@example.org\n\nhi\n"), opts), /From/);
    await assert.rejects(
      signMessage(crlf("From: x@example.org\n\n"), { ...opts, domain: "exa mple.org;" }),
      /domain/,
    );
    await assert.rejects(
      signMessage(crlf("From: x@example.org\n\n"), {
        ...opts,
        selector: "a;b",
        keys: [{ algorithm: "rsa-sha256", key: rsaKey }],
      }),
      /selector/,
    );
    await assert.rejects(
      signMessage(crlf("From: x@example.org\n\n"), {
        ...opts,
        keys: [{ algorithm: "rsa-sha256", key: edKey }],
      }),
      /RSASSA/,
    );
    assert.equal(await signMessage(crlf("From: x@example.org\n\n"), opts), "");
  });
});
