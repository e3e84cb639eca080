/**
 * `deno task bench`: inbound SMTP throughput of fsmtp beside Postfix (both fed by smtp-source on
 * loopback, in the same run), and fsmtp's RSS with 1,000 idle connections. Prints figures; asserts
 * nothing. Needs root for the Postfix peer (and installs postfix when it is missing).
 *
 *   deno task bench            the full figure: 5,000 messages
 *   deno task bench --quick    500 messages, for trying it out
 *   deno task bench --messages=N
 */
import { parseArgs } from "node:util";
import { idleConnections, type IdleMemory } from "./idle_connections.ts";
import { ensurePostfix } from "./postfix_peer.ts";
import { fsmtpInbound, inboundLoad, postfixInbound, type Throughput } from "./smtp_inbound.ts";
import { checkInterrupted, interruptAndCleanUp } from "./util.ts";

const FULL_MESSAGES = 5000;
const QUICK_MESSAGES = 500;
const IDLE_CONNECTIONS = 1000;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    messages: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log("usage: deno task bench [--quick] [--messages=N]");
  Deno.exit(0);
}
const messages = values.messages !== undefined
  ? Number(values.messages)
  : values.quick
  ? QUICK_MESSAGES
  : FULL_MESSAGES;
if (!Number.isInteger(messages) || messages < 1) {
  console.error(`bench: --messages wants a positive integer, got ${values.messages}`);
  Deno.exit(2);
}

/** Set on SIGINT/SIGTERM: stops the servers, removes the temp folders, then exits 130. */
let interruption: Promise<never> | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    if (interruption) return;
    console.error(`\nbench: ${signal}, stopping servers and removing temp folders ...`);
    interruption = interruptAndCleanUp().then(() => Deno.exit(130));
  });
}

const load = inboundLoad(messages);
const errors: string[] = [];

/** Runs one part, prints its progress, keeps its error instead of stopping the run. */
async function part<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  console.log(`bench: ${name} ...`);
  try {
    checkInterrupted();
    return await fn();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    errors.push(`${name}: ${message}`);
    console.log(`bench: ${name} FAILED: ${message.split("\n")[0]}`);
    return undefined;
  }
}

function describe(t: Throughput): string {
  return `${t.messages} messages (${t.deliveries} deliveries) in ${t.seconds.toFixed(2)} s = ` +
    `${t.perSecond.toFixed(1)} msg/s` +
    (t.stored !== undefined ? `; ${t.stored} deliveries in the store` : "");
}

console.log(
  `bench: inbound SMTP, smtp-source -s ${load.sessions} -m ${load.messages} -l ${load.size} ` +
    `-r ${load.recipients} on 127.0.0.1, ${navigator.hardwareConcurrency} CPUs`,
);
const postfix = await part("Postfix inbound (until delivered to Maildir)", async () => {
  await ensurePostfix();
  return await postfixInbound(load);
});
if (postfix) console.log(`  postfix: ${describe(postfix)}`);
const fsmtp = await part("fsmtp inbound (until smtp-source is done)", () => fsmtpInbound(load));
if (fsmtp) console.log(`  fsmtp:   ${describe(fsmtp)}`);
const memory: IdleMemory | undefined = await part(
  `fsmtp RSS with ${IDLE_CONNECTIONS} idle connections`,
  () => idleConnections(IDLE_CONNECTIONS),
);

if (interruption) await interruption; // no table for an interrupted run

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const rows: [string, string][] = [
  ["inbound msg/s, Postfix", postfix ? postfix.perSecond.toFixed(1) : "failed"],
  ["inbound msg/s, fsmtp", fsmtp ? fsmtp.perSecond.toFixed(1) : "failed"],
  [
    "ratio fsmtp / Postfix",
    postfix && fsmtp ? (fsmtp.perSecond / postfix.perSecond).toFixed(2) : "-",
  ],
  ["fsmtp RSS, idle", memory ? mib(memory.idleKiB) : "failed"],
  [`fsmtp RSS, ${IDLE_CONNECTIONS} idle connections`, memory ? mib(memory.openKiB) : "failed"],
  [
    "fsmtp RSS per connection",
    memory
      ? `${((memory.openKiB - memory.idleKiB) / memory.connections).toFixed(1)} KiB`
      : "failed",
  ],
  ["fsmtp RSS, connections closed", memory ? mib(memory.closedKiB) : "failed"],
];
const width = Math.max(...rows.map(([k]) => k.length));
const valueWidth = Math.max(...rows.map(([, v]) => v.length));
console.log("");
console.log(`${"figure".padEnd(width)}  ${"value".padStart(valueWidth)}`);
console.log(`${"-".repeat(width)}  ${"-".repeat(valueWidth)}`);
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v.padStart(valueWidth)}`);

if (errors.length > 0) {
  console.log("\nfailures:");
  for (const e of errors) console.log(`- ${e}`);
  Deno.exit(1);
}
Deno.exit(0);
