/**
 * mbsync (isync) keeping a local Maildir in step with the real server over implicit TLS, the
 * server's certificate given as CertificateFile. Changes go both ways: new mail delivered by
 * SMTP comes down, a flag set locally goes up, a message deleted locally is expunged on the
 * server, a message moved between local folders moves on the server, a message expunged on
 * the server disappears locally, and a sync with nothing to do changes nothing on either side.
 * The server side is checked with Python's imaplib (tests/e2e/imap_imaplib.py) and through
 * the store, never through mbsync's own account of what it did.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProgram, type TestServer } from "../helpers/test_server.ts";
import { readMailbox } from "../helpers/read_mail.ts";
import { sendMail, startServer } from "../helpers/pop3_client.ts";

const IMAPLIB = new URL("./imap_imaplib.py", import.meta.url).pathname;
const USER = "syncer@test.example";
const PASSWORD = "mbsync e2e password";
const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");

const HAVE_MBSYNC = new Deno.Command("sh", {
  args: ["-c", "command -v mbsync"],
  stdout: "null",
  stderr: "null",
}).outputSync().success;
if (!HAVE_MBSYNC) {
  console.warn("imap_mbsync_test: skipped, mbsync is not installed (Debian package isync)");
}

/** The n-th test message: unique subject, a dot line, 8-bit octets. */
function message(n: number): Uint8Array {
  return new Uint8Array([
    ...enc.encode(`From: a@remote.test\r\nSubject: sync ${n}\r\n\r\n.dot line ${n}\r\n`),
    0xe9,
    0xff,
    ...enc.encode("\r\nend\r\n"),
  ]);
}

/** A Maildir message file: its folder, sub-folder (new/cur), name and content. */
interface MaildirFile {
  folder: string;
  sub: string;
  name: string;
  text: string;
}

/** Every message file under `root` (folders one level deep), sorted by folder then name. */
async function maildir(root: string): Promise<MaildirFile[]> {
  const out: MaildirFile[] = [];
  for await (const folder of Deno.readDir(root)) {
    if (!folder.isDirectory) continue;
    for (const sub of ["new", "cur"]) {
      const dir = join(root, folder.name, sub);
      try {
        for await (const f of Deno.readDir(dir)) {
          const text = withoutTuid(latin1.decode(await Deno.readFile(join(dir, f.name))));
          out.push({ folder: folder.name, sub, name: f.name, text });
        }
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }
  return out.sort((a, b) => `${a.folder}/${a.name}` < `${b.folder}/${b.name}` ? -1 : 1);
}

/**
 * `text` without the X-TUID header field isync adds to every message it copies (it finds the
 * copy by it after an APPEND): the one thing mbsync changes in a message on its way.
 */
function withoutTuid(text: string): string {
  const end = text.search(/\r?\n\r?\n/);
  const header = text.slice(0, end + 1).replace(/^X-TUID: [^\r\n]*\r?\n/m, "");
  return header + text.slice(end + 1);
}

/** The Maildir form of a message: LF line ends (mbsync stores local mail that way). */
const local = (m: Uint8Array) => latin1.decode(m).replaceAll("\r\n", "\n");

/** The message file in `files` whose subject is "sync n". */
function byNumber(files: MaildirFile[], n: number): MaildirFile {
  const found = files.filter((f) => f.text.includes(`\nSubject: sync ${n}\n`));
  assert.equal(found.length, 1, `sync ${n}: ${JSON.stringify(files.map((f) => f.name))}`);
  return found[0];
}

/** Runs IMAP commands with imaplib over implicit TLS; returns each command's data. */
async function imap(server: TestServer, commands: unknown[]): Promise<unknown[][]> {
  const r = await runProgram(
    "python3",
    [
      IMAPLIB,
      "ssl",
      String(server.imapsPort),
      USER,
      PASSWORD,
      join(server.dir, "keys", "cert.pem"),
    ],
    JSON.stringify(commands),
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const results = JSON.parse(r.stdout).results as { typ?: string; data?: unknown[] }[];
  for (const res of results) assert.equal(res.typ, "OK", JSON.stringify(res));
  return results.map((res) => res.data!);
}

/** UID → FLAGS (without \Recent) of every message in `box`, from the server. */
async function serverFlags(server: TestServer, box: string): Promise<Map<number, string[]>> {
  const [, data] = await imap(server, [
    { m: "select", a: [box] },
    { m: "uid", a: ["FETCH", "1:*", "(FLAGS)"] },
  ]);
  const out = new Map<number, string[]>();
  for (const line of data) {
    if (line === null) continue;
    const m = /UID (\d+)/.exec(String(line));
    const flags = /FLAGS \(([^)]*)\)/.exec(String(line));
    assert.ok(m && flags, String(line));
    out.set(Number(m[1]), flags[1].split(" ").filter((f) => f !== "" && f !== "\\Recent"));
  }
  return out;
}

Deno.test({
  name: "mbsync two-way sync with a local Maildir",
  ignore: !HAVE_MBSYNC,
  fn: async (t) => {
    const server = await startServer();
    const work = await Deno.makeTempDir({ prefix: "fsmtp-mbsync-" });
    const mail = join(work, "mail");
    const rc = join(work, "mbsyncrc");
    const sync = async () => {
      const r = await runProgram("mbsync", ["-c", rc, "-a"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(
        r.stdout + r.stderr,
        /error/i,
        server.output.text.split("\n").filter((l) => /rror|imap/i.test(l)).slice(-30).join("\n"),
      );
    };
    try {
      await server.addUser(USER, PASSWORD);
      await Deno.mkdir(mail);
      // isync 1.4 spells the TLS mode SSLType (TLSType from 1.5 on). A certificate listed in
      // CertificateFile is trusted as it is, so connecting to 127.0.0.1 needs no name match.
      await Deno.writeTextFile(
        rc,
        [
          "IMAPAccount remote",
          "Host 127.0.0.1",
          `Port ${server.imapsPort}`,
          `User ${USER}`,
          `Pass "${PASSWORD}"`,
          "SSLType IMAPS",
          `CertificateFile ${join(server.dir, "keys", "cert.pem")}`,
          "",
          "IMAPStore remote",
          "Account remote",
          "",
          "MaildirStore local",
          `Path ${mail}/`,
          `Inbox ${mail}/INBOX`,
          "SubFolders Verbatim",
          "",
          "Channel sync",
          "Far :remote:",
          "Near :local:",
          "Patterns *",
          "Create Both",
          "Expunge Both",
          "SyncState *",
          "",
        ].join("\n"),
      );
      for (const n of [1, 2, 3]) await sendMail(server.smtpPort, USER, message(n));
      const stored = await readMailbox(server.dbPath, USER, PASSWORD);

      await t.step("first sync: every folder and message comes down", async () => {
        await sync();
        const folders = [...Deno.readDirSync(mail)].map((e) => e.name).sort();
        assert.deepEqual(folders, ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]);
        const files = await maildir(mail);
        assert.deepEqual(files.map((f) => f.text).sort(), stored.map(local).sort());
        assert.ok(files.every((f) => f.folder === "INBOX"));
      });

      await t.step("mail delivered by SMTP comes down on the next sync", async () => {
        await sendMail(server.smtpPort, USER, message(4));
        await sync();
        const fourth = byNumber(await maildir(mail), 4);
        const [, , , latest] = await readMailbox(server.dbPath, USER, PASSWORD);
        assert.equal(fourth.text, local(latest));
        assert.equal(fourth.folder, "INBOX");
      });

      await t.step("a flag set locally goes up (:2, → :2,FS)", async () => {
        const file = byNumber(await maildir(mail), 1);
        const base = file.name.replace(/:2,[A-Z]*$/, "");
        await Deno.rename(
          join(mail, "INBOX", file.sub, file.name),
          join(mail, "INBOX", "cur", `${base}:2,FS`),
        );
        await sync();
        const flags = await serverFlags(server, "INBOX");
        assert.deepEqual(flags.get(1)?.sort(), ["\\Flagged", "\\Seen"]);
        assert.deepEqual(flags.get(2), [], "other messages keep their flags");
      });

      await t.step("a message deleted locally is expunged on the server", async () => {
        const file = byNumber(await maildir(mail), 2);
        await Deno.remove(join(mail, "INBOX", file.sub, file.name));
        await sync();
        assert.deepEqual([...(await serverFlags(server, "INBOX")).keys()], [1, 3, 4]);
      });

      await t.step("a message moved between local folders moves on the server", async () => {
        const file = byNumber(await maildir(mail), 3);
        // A message new to a folder has no UID of its own there (isync's rule for moves).
        const name = file.name.replace(/,U=\d+/, "");
        await Deno.rename(
          join(mail, "INBOX", file.sub, file.name),
          join(mail, "Archive", "cur", name),
        );
        await sync();
        assert.deepEqual([...(await serverFlags(server, "INBOX")).keys()], [1, 4]);
        const archived = await readMailbox(server.dbPath, USER, PASSWORD, "Archive");
        assert.equal(archived.length, 1);
        assert.equal(withoutTuid(local(archived[0])), local(stored[2]));
        const files = await maildir(mail);
        assert.equal(byNumber(files, 3).folder, "Archive");
        assert.match(byNumber(files, 3).name, /,U=1:2,$/, "the Archive copy got its server UID");
      });

      await t.step("a message expunged on the server disappears locally", async () => {
        await imap(server, [
          { m: "select", a: ["INBOX"] },
          { m: "uid", a: ["STORE", "4", "+FLAGS", "(\\Deleted)"] },
          { m: "expunge" },
        ]);
        await sync();
        const files = await maildir(mail);
        assert.deepEqual(files.map((f) => [f.folder, f.text]), [
          ["Archive", local(stored[2])],
          ["INBOX", local(stored[0])],
        ]);
        assert.match(files[1].name, /:2,FS$/);
      });

      await t.step("a second sync is a no-op on both sides", async () => {
        const status = () =>
          imap(
            server,
            ["INBOX", "Archive", "Trash"].map((box) => ({
              m: "status",
              a: [box, "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"],
            })),
          );
        const [before, serverBefore] = [await maildir(mail), await status()];
        await sync();
        assert.deepEqual(await maildir(mail), before);
        assert.deepEqual(await status(), serverBefore);
      });
    } finally {
      await server.stop();
      await server.cleanup();
      await Deno.remove(work, { recursive: true });
    }
  },
});
