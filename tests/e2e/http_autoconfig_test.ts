/**
 * Client autoconfig from a running fsmtp over HTTPS (`http.tls = "always"`, the configured
 * self-signed certificate, checked by curl against it): Thunderbird's config-v1.1.xml at both
 * of its URLs, Outlook's autodiscover (POST with a request XML, and GET), and the Apple
 * profile, each parsed by Python's own XML or plist parser and compared with the listeners in
 * the config; unknown domains get 404; /healthz says the store is fine.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { curl, type CurlAnswer, json } from "../helpers/http_client.ts";
import { freePort, runProgram, TestServer } from "../helpers/test_server.ts";

const CHECK = join(new URL(".", import.meta.url).pathname, "autoconfig_check.py");
const HOST = "mail.test.example";
const ADDRESS = "ivy@test.example";

/** What autoconfig_check.py read from an answer. */
async function parsed<T>(kind: string, answer: CurlAnswer, dir: string): Promise<T> {
  assert.equal(answer.status, 200, answer.body);
  const file = join(dir, `${kind}-${crypto.randomUUID()}`);
  await Deno.writeTextFile(file, answer.body);
  const r = await runProgram("python3", [CHECK, kind, file]);
  assert.equal(r.code, 0, `python could not parse the ${kind} answer: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

Deno.test("autoconfig over HTTPS: Thunderbird, Outlook, Apple, as the config says", async (t) => {
  const httpPort = freePort();
  const server = await TestServer.start({
    hostname: HOST,
    tables: { http: { listen: `127.0.0.1:${httpPort}`, tls: "always" } },
  });
  try {
    await server.waitForOutput(
      new RegExp(`listening http on 127\\.0\\.0\\.1:${httpPort} \\(https\\)`),
    );
    // The certificate names the host name; curl reaches it on 127.0.0.1 and checks it.
    const tls = [
      "--cacert",
      join(server.dir, "keys", "cert.pem"),
      "--resolve",
      `${HOST}:${httpPort}:127.0.0.1`,
    ];
    const base = `https://${HOST}:${httpPort}`;
    const encrypted = {
      imaps: server.imapsPort,
      imap: server.imapPort,
      pop3s: server.pop3sPort,
      pop3: server.pop3Port,
      submissions: server.submissionsPort,
      submission: server.submissionPort,
    };

    await t.step(
      "Thunderbird: every listener, SSL before STARTTLS, the address as login",
      async () => {
        type Tb = {
          id: string;
          domain: string;
          servers: { type: string; hostname: string; port: number; socketType: string }[];
        };
        const wellKnown = await parsed<Tb>(
          "thunderbird",
          await curl([
            ...tls,
            `${base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=${ADDRESS}`,
          ]),
          server.dir,
        );
        assert.equal(wellKnown.domain, "test.example");
        assert.deepEqual(
          wellKnown.servers.map((s) => [s.type, s.hostname, s.port, s.socketType]),
          [
            ["imap", HOST, encrypted.imaps, "SSL"],
            ["imap", HOST, encrypted.imap, "STARTTLS"],
            ["pop3", HOST, encrypted.pop3s, "SSL"],
            ["pop3", HOST, encrypted.pop3, "STARTTLS"],
            ["smtp", HOST, encrypted.submissions, "SSL"],
            ["smtp", HOST, encrypted.submission, "STARTTLS"],
          ],
        );
        const raw = await curl([
          ...tls,
          `${base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=${ADDRESS}`,
        ]);
        assert.match(raw.body, /<authentication>password-cleartext<\/authentication>/);
        assert.match(raw.body, /<username>%EMAILADDRESS%<\/username>/);
        // The autoconfig.<domain> host form, with no address: the domain comes from the host.
        const byHost = await parsed<Tb>(
          "thunderbird",
          // (The certificate names only the host name: the Host field carries the other name.)
          await curl([
            ...tls,
            "-H",
            `Host: autoconfig.test.example:${httpPort}`,
            `${base}/mail/config-v1.1.xml`,
          ]),
          server.dir,
        );
        assert.deepEqual(byHost, wellKnown);
        const stranger = await curl([
          ...tls,
          `${base}/mail/config-v1.1.xml?emailaddress=eve@elsewhere.example`,
        ]);
        assert.equal(stranger.status, 404);
        assert.equal(json<{ error: { code: string } }>(stranger).error.code, "not_found");
      },
    );

    await t.step("Outlook autodiscover: POST with the request XML, and GET", async () => {
      const request = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>${ADDRESS}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;
      type Ad = {
        action: string;
        protocols: {
          type: string;
          server: string;
          port: number;
          login: string;
          encryption: string;
        }[];
      };
      const posted = await parsed<Ad>(
        "autodiscover",
        await curl([
          ...tls,
          "-H",
          "Content-Type: text/xml",
          "--data-binary",
          "@-",
          `${base}/autodiscover/autodiscover.xml`,
        ], request),
        server.dir,
      );
      assert.equal(posted.action, "settings");
      assert.deepEqual(
        posted.protocols.map((p) => [p.type, p.server, p.port, p.login, p.encryption]),
        [
          ["IMAP", HOST, encrypted.imaps, ADDRESS, "SSL"],
          ["POP3", HOST, encrypted.pop3s, ADDRESS, "SSL"],
          ["SMTP", HOST, encrypted.submissions, ADDRESS, "SSL"],
        ],
      );
      const got = await parsed<Ad>(
        "autodiscover",
        await curl([...tls, `${base}/Autodiscover/Autodiscover.xml?emailaddress=${ADDRESS}`]),
        server.dir,
      );
      assert.deepEqual(got, posted);
    });

    await t.step("Apple: an unsigned profile with the IMAP and SMTP of the config", async () => {
      const answer = await curl([
        ...tls,
        `${base}/apple/mail.mobileconfig?emailaddress=${ADDRESS}`,
      ]);
      assert.match(answer.headers["content-type"], /^application\/x-apple-aspen-config/);
      const profile = await parsed<{ type: string; account: Record<string, unknown> }>(
        "apple",
        answer,
        server.dir,
      );
      assert.equal(profile.type, "Configuration");
      assert.equal(profile.account.PayloadType, "com.apple.mail.managed");
      assert.equal(profile.account.EmailAccountType, "EmailTypeIMAP");
      assert.equal(profile.account.EmailAddress, ADDRESS);
      assert.equal(profile.account.IncomingMailServerHostName, HOST);
      assert.equal(profile.account.IncomingMailServerPortNumber, encrypted.imaps);
      assert.equal(profile.account.IncomingMailServerUsername, ADDRESS);
      assert.equal(profile.account.OutgoingMailServerPortNumber, encrypted.submissions);
      assert.equal(profile.account.IncomingMailServerUseSSL, true);
    });

    await t.step("/healthz over HTTPS: the store is fine", async () => {
      const answer = await curl([...tls, `${base}/healthz`]);
      assert.equal(answer.status, 200, answer.body);
      assert.equal(json<{ checks: { store: { ok: boolean } } }>(answer).checks.store.ok, true);
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});
