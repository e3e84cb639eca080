/**
 * fsmtp: the command line. Parses flags (the original's single-dash long forms included),
 * loads nothing itself, and dispatches to one command in `src/cli/`.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./src/config/load_config.ts";
import { HELP_TEXT } from "./src/cli/help.ts";
import { runServers } from "./src/cli/run.ts";
import { addUser, changePassword, deleteUser, listUsers } from "./src/cli/users.ts";
import { selfTest } from "./src/cli/self_test.ts";
import { printDnsRecords } from "./src/cli/dns_records.ts";
import { queueCommand } from "./src/cli/queue.ts";
import { mailtest } from "./src/cli/mailtest.ts";
import { sendDirect } from "./src/cli/direct_send.ts";
import { syncCommand } from "./src/cli/sync.ts";
import { migrateStoreCommand } from "./src/cli/migrate_store.ts";
import { dkimRotateCommand } from "./src/cli/dkim_rotate.ts";
import { listTokensCommand, tokenCommand } from "./src/cli/tokens.ts";

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  run: { type: "string", short: "r" },
  adduser: { type: "string", short: "a" },
  deluser: { type: "string" },
  passwd: { type: "string" },
  users: { type: "boolean" },
  "password-stdin": { type: "boolean" },
  "recovery-key": { type: "boolean" },
  test: { type: "boolean", short: "t" },
  mailtest: { type: "boolean", short: "m" },
  sync: { type: "boolean", short: "s" },
  config: { type: "string" },
  "dns-records": { type: "boolean" },
  "dkim-rotate": { type: "boolean" },
  queue: { type: "boolean" },
  from: { type: "string" },
  to: { type: "string", multiple: true },
  subject: { type: "string" },
  text: { type: "string" },
  html: { type: "string" },
  attach: { type: "string", multiple: true },
  direct: { type: "boolean" },
  verbose: { type: "boolean" },
  "migrate-store": { type: "boolean" },
  force: { type: "boolean" },
  token: { type: "string" },
  tokens: { type: "string" },
  revoke: { type: "string" },
} as const;

/** `-adduser x` (the original's form) → `--adduser x`; short flags such as `-a` stay. */
export function normalizeArgs(args: string[]): string[] {
  return args.map((arg) => {
    const m = /^-([a-z][a-z-]+)(=.*)?$/.exec(arg);
    return m && m[1] in OPTIONS ? `-${arg}` : arg;
  });
}

function usageError(message: string): number {
  console.error(`fsmtp: ${message}\n`);
  console.error(HELP_TEXT);
  return 2;
}

async function main(args: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: normalizeArgs(args),
      options: OPTIONS,
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    console.error(`fsmtp: ${(err as Error).message}\n`);
    console.error(HELP_TEXT);
    return 2;
  }
  const config = values.config;
  const stdin = values["password-stdin"] ?? false;
  if (values.help) {
    console.log(HELP_TEXT);
    return 0;
  }
  if (values.run !== undefined) return await runServers(values.run, config);
  if (values.adduser !== undefined) {
    return await addUser(values.adduser, { config, stdin, recovery: values["recovery-key"] });
  }
  if (values.deluser !== undefined) return await deleteUser(values.deluser, { config });
  if (values.passwd !== undefined) {
    return await changePassword(values.passwd, {
      config,
      stdin,
      recovery: values["recovery-key"],
    });
  }
  if (values.users) return await listUsers({ config });
  if (values.token !== undefined) {
    return await tokenCommand(values.token, { config, revoke: values.revoke });
  }
  if (values.tokens !== undefined) return await listTokensCommand(values.tokens, { config });
  if (values.revoke !== undefined) return usageError("--revoke ID goes with --token ADDRESS");
  if (values.queue) return await queueCommand(positionals, { config });
  if (values["dns-records"]) {
    if (positionals.length > 1) return usageError("--dns-records takes at most one domain");
    return await printDnsRecords(positionals[0], { config });
  }
  if (positionals.length > 0) return usageError(`unexpected argument ${positionals[0]}`);
  if (values.test) return await selfTest({ config });
  if (values.mailtest) {
    return await mailtest({
      config,
      from: values.from,
      to: values.to ?? [],
      subject: values.subject,
      text: values.text,
      html: values.html,
      attach: values.attach ?? [],
      direct: values.direct ?? false,
      verbose: values.verbose ?? false,
    }, (message, verbose) => sendDirect(loadConfig(config).config, message, verbose));
  }
  if (values.sync) return await syncCommand({ config });
  if (values["dkim-rotate"]) return await dkimRotateCommand({ config });
  if (values["migrate-store"]) {
    return await migrateStoreCommand({ config, force: values.force ?? false });
  }
  console.log(HELP_TEXT);
  return 2;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    const prefix = err instanceof ConfigError ? "config error" : "error";
    console.error(`fsmtp: ${prefix}: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
