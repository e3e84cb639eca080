/**
 * Dovecot's imaptest compliance set against the real server: every scripted test group must
 * pass. Runs only when the environment names the tool: IMAPTEST (the binary) and
 * IMAPTEST_TESTS (its tests folder); imaptest itself is not part of this repository. It needs
 * Dovecot's libraries, found through LD_LIBRARY_PATH=/usr/lib/dovecot.
 */
import assert from "node:assert/strict";
import { TestServer } from "../helpers/test_server.ts";

const USER = "imaptest@test.example";
const USER2 = "imaptest2@test.example";
const PASSWORD = "imaptest password";
const RUN_TIMEOUT_MS = 5 * 60_000;

const binary = Deno.env.get("IMAPTEST");
const tests = Deno.env.get("IMAPTEST_TESTS");

/** Why the test cannot run here, or undefined when it can. */
function missing(): string | undefined {
  if (!binary || !tests) return "IMAPTEST and IMAPTEST_TESTS are not both set";
  try {
    if (!Deno.statSync(binary).isFile) return `IMAPTEST=${binary} is not a file`;
    if (!Deno.statSync(tests).isDirectory) return `IMAPTEST_TESTS=${tests} is not a folder`;
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

const why = missing();
if (why) console.log(`imaptest compliance test skipped for lack of imaptest: ${why}`);

/** The counts imaptest prints at the end of a compliance run (on stdout). */
interface ImaptestSummary {
  groups: number;
  failedGroups: number;
  skippedGroups: number;
  base: { failed: number; total: number };
  extensions: { failed: number; total: number };
}

/** Parses the three summary lines; undefined when they are not all there. */
function parseSummary(stdout: string): ImaptestSummary | undefined {
  const groups = /^(\d+) test groups: (\d+) failed, (\d+) skipped due to missing capabilities$/m
    .exec(stdout);
  const counts = (name: string) => {
    const m = new RegExp(`^${name}: (\\d+)/(\\d+) individual commands failed$`, "m").exec(stdout);
    return m ? { failed: Number(m[1]), total: Number(m[2]) } : undefined;
  };
  const base = counts("base protocol");
  const extensions = counts("extensions");
  if (!groups || !base || !extensions) return undefined;
  return {
    groups: Number(groups[1]),
    failedGroups: Number(groups[2]),
    skippedGroups: Number(groups[3]),
    base,
    extensions,
  };
}

/** The failure blocks on stderr, one line each: "group command n/m (line l): why". */
function failures(stderr: string): string[] {
  const out: string[] = [];
  const re = /^\*\*\* Test (\S+) command (\d+)\/(\d+) \(line (\d+)\)\n((?: - [^\n]*\n?)*)/gm;
  for (let m = re.exec(stderr); m; m = re.exec(stderr)) {
    const why = /^ - failed: (.*)$/m.exec(m[5])?.[1] ?? "";
    const command = /^ - Command: (.*)$/m.exec(m[5])?.[1] ?? "";
    out.push(`${m[1]} ${m[2]}/${m[3]} (line ${m[4]}): ${why} — ${command}`);
  }
  return out;
}

Deno.test({
  name: "imaptest compliance set: 0 failed test groups",
  ignore: why !== undefined,
  async fn() {
    const server = await TestServer.start();
    try {
      await server.addUser(USER, PASSWORD);
      await server.addUser(USER2, PASSWORD);
      const run = await new Deno.Command(binary!, {
        args: [
          "host=127.0.0.1",
          `port=${server.imapPort}`,
          `user=${USER}`,
          `user2=${USER2}`,
          `pass=${PASSWORD}`,
          `test=${tests}`,
        ],
        env: { LD_LIBRARY_PATH: "/usr/lib/dovecot" },
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
      }).output();
      const stdout = new TextDecoder().decode(run.stdout);
      const stderr = new TextDecoder().decode(run.stderr);
      const summary = parseSummary(stdout);
      assert.ok(summary, `no summary from imaptest (exit ${run.code}):\n${stdout}\n${stderr}`);
      console.log(
        `imaptest: ${summary.groups} groups, ${summary.failedGroups} failed, ` +
          `${summary.skippedGroups} skipped; base protocol ${summary.base.failed}/` +
          `${summary.base.total} commands failed; extensions ${summary.extensions.failed}/` +
          `${summary.extensions.total} failed`,
      );
      const failed = failures(stderr);
      if (failed.length > 0) console.log(failed.join("\n"));
      assert.equal(summary.failedGroups, 0, `failed:\n${failed.join("\n")}`);
      assert.equal(run.code, 0);
    } finally {
      await server.stop();
      await server.cleanup();
    }
  },
});
