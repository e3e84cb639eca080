/**
 * `deno task bench`: inbound SMTP throughput of fsmtp beside Postfix (both fed by smtp-source on
 * loopback, in the same run), fsmtp's RSS per idle connection per protocol and TLS mode, POP3 download
 * throughput of fsmtp beside Dovecot (the same 1,000 messages of 4 KiB in each; login + LIST +
 * RETR of all, by the same client), and outbound relaying of fsmtp beside Postfix (the same
 * number of 4 KiB messages relayed to one smtp-sink; fsmtp DKIM-signs each). Prints figures;
 * asserts nothing. Needs root for the Postfix and Dovecot peers (and installs postfix,
 * dovecot-core and dovecot-pop3d when missing).
 *
 *   deno task bench                  the full figures: 5,000 SMTP messages, 1,000 POP3 messages,
 *                                    2,000 outbound messages
 *   deno task bench --quick          500 SMTP, 200 POP3 and 300 outbound messages, to try it out
 *   deno task bench --messages=N     SMTP messages
 *   deno task bench --pop3-messages=N
 *   deno task bench --outbound-messages=N
 *   deno task bench --only=smtp      SMTP throughput only
 *   deno task bench --only=pop3      POP3 download only (and RSA-OAEP-2048 beside openssl speed)
 *   deno task bench --only=outbound  relaying 2,000 messages to smtp-sink, fsmtp beside Postfix
 *                                    and Postfix signing through OpenDKIM (a milter)
 *   deno task bench --only=imap      IMAP, fsmtp beside Dovecot and Dovecot with mail_crypt
 *                                    (1,000 messages; --quick 200; --imap-messages=N);
 *                                    imaptest's stress mode too when IMAPTEST=/path/to/imaptest
 *   deno task bench --only=idle      RSS per idle connection: SMTP (plain, STARTTLS, implicit
 *                                    TLS), POP3 and IMAP IDLE (STARTTLS, implicit TLS), 1,000
 *                                    connections per row (--quick 200; --idle-connections=N)
 *   deno task bench --only=memory    40 clients sending 20 MB at once: peak RSS against the
 *                                    in-flight budget (--quick: 10 clients)
 *   deno task bench --only=cluster   inbound SMTP and POP3 reads into one node on SQLite, one on
 *                                    Cassandra and two on one Cassandra (1,000 messages; --quick
 *                                    200; --cluster-messages=N); needs CASSANDRA_HOME (a home with
 *                                    run-node.sh), skipped with the reason otherwise
 */
import { parseArgs } from "node:util";
import { type Pop3Comparison, pop3Download, type Pop3Side } from "./pop3_download.ts";
import { type RsaComparison, rsaComparison, rsaLines } from "./rsa_speed.ts";
import { type ImapComparison, imapComparison } from "./imap_bench.ts";
import { type IdleResult, idleTable, idleTls } from "./idle_tls.ts";
import { imapTable } from "./imap_report.ts";
import { ensurePostfix } from "./postfix_peer.ts";
import { fsmtpInbound, inboundLoad, postfixInbound, type Throughput } from "./smtp_inbound.ts";
import { checkInterrupted, interruptAndCleanUp } from "./util.ts";
import { type ClusterBench, clusterBench } from "./cluster.ts";
import { DEFAULT_BUDGET, type MemoryBurst, memoryBurst } from "./smtp_memory.ts";
import {
  fsmtpRunnerSettings,
  OUTBOUND_SESSIONS,
  OUTBOUND_SIZE,
  type OutboundComparison,
  outboundComparison,
  type OutboundSide,
} from "./smtp_outbound.ts";

const FULL_MESSAGES = 5000;
const QUICK_MESSAGES = 500;
const IDLE_CONNECTIONS = 1000;
const QUICK_IDLE_CONNECTIONS = 200;
const FULL_POP3_MESSAGES = 1000;
const QUICK_POP3_MESSAGES = 200;
const POP3_MESSAGE_SIZE = 4096;
const POP3_ROUNDS = 5;
/** The memory burst: clients sending a message of this size each, all at once. */
const BURST_CLIENTS = 40;
const BURST_SIZE = 20_000_000;
const PARTS = ["smtp", "pop3", "outbound", "imap", "idle", "memory", "cluster"] as const;
const FULL_CLUSTER_MESSAGES = 1000;
const QUICK_CLUSTER_MESSAGES = 200;
const OUTBOUND_MESSAGES = 2000;
const QUICK_OUTBOUND_MESSAGES = 300;
const FULL_IMAP_MESSAGES = 1000;
const QUICK_IMAP_MESSAGES = 200;
const IMAP_MESSAGE_SIZE = 4096;
const IMAP_ROUNDS = 5;
/** Parallel login clients (one user each); imaptest's users and clients too. */
const IMAP_LOGIN_CLIENTS = 20;
/** Messages in the INBOX every idling IMAP session selected. */
const IMAP_IDLE_MESSAGES = 100;
/** The aim for fsmtp's memory per idle TLS connection (KiB). */
const IDLE_AIM_KIB = 40;

const { values } = parseArgs({
  // `deno task bench -- --quick` passes the "--" on: take it as the npm habit it is.
  args: Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    messages: { type: "string" },
    "pop3-messages": { type: "string" },
    "outbound-messages": { type: "string" },
    "imap-messages": { type: "string" },
    "cluster-messages": { type: "string" },
    "idle-connections": { type: "string" },
    only: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    "usage: deno task bench [--quick] [--messages=N] [--pop3-messages=N] " +
      "[--outbound-messages=N] [--imap-messages=N] [--cluster-messages=N] " +
      "[--idle-connections=N] [--only=smtp|pop3|outbound|imap|idle|memory|cluster]",
  );
  Deno.exit(0);
}

/** A positive integer option, or its default; exits 2 on anything else. */
function count(name: string, value: string | undefined, fallback: number): number {
  const n = value !== undefined ? Number(value) : fallback;
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench: --${name} wants a positive integer, got ${value}`);
    Deno.exit(2);
  }
  return n;
}
const messages = count("messages", values.messages, values.quick ? QUICK_MESSAGES : FULL_MESSAGES);
const pop3Messages = count(
  "pop3-messages",
  values["pop3-messages"],
  values.quick ? QUICK_POP3_MESSAGES : FULL_POP3_MESSAGES,
);
const outboundMessages = count(
  "outbound-messages",
  values["outbound-messages"],
  values.quick ? QUICK_OUTBOUND_MESSAGES : OUTBOUND_MESSAGES,
);
const imapMessages = count(
  "imap-messages",
  values["imap-messages"],
  values.quick ? QUICK_IMAP_MESSAGES : FULL_IMAP_MESSAGES,
);
if (values.only !== undefined && !(PARTS as readonly string[]).includes(values.only)) {
  console.error(`bench: --only takes one of ${PARTS.join(", ")}, not "${values.only}"`);
  Deno.exit(2);
}
const runSmtp = values.only === undefined || values.only === "smtp";
const runPop3 = values.only === undefined || values.only === "pop3";
const runOutbound = values.only === undefined || values.only === "outbound";
const runImap = values.only === undefined || values.only === "imap";
const runIdle = values.only === undefined || values.only === "idle";
const idleConnections = count(
  "idle-connections",
  values["idle-connections"],
  values.quick ? QUICK_IDLE_CONNECTIONS : IDLE_CONNECTIONS,
);
const runMemory = values.only === undefined || values.only === "memory";
const runCluster = values.only === undefined || values.only === "cluster";
const clusterMessages = count(
  "cluster-messages",
  values["cluster-messages"],
  values.quick ? QUICK_CLUSTER_MESSAGES : FULL_CLUSTER_MESSAGES,
);

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
    `${t.perSecond.toFixed(1)} msg/s, server CPU ${
      (t.cpuSeconds * 1000 / t.messages).toFixed(2)
    } ` +
    `ms a message` +
    (t.stored !== undefined ? `; ${t.stored} deliveries in the store` : "");
}

let postfix: Throughput | undefined;
let fsmtp: Throughput | undefined;
let fsmtpChecked: Throughput | undefined;
let fsmtpSilentDns: Throughput | undefined;
if (runSmtp) {
  console.log(
    `bench: inbound SMTP, smtp-source -s ${load.sessions} -m ${load.messages} -l ${load.size} ` +
      `-r ${load.recipients} on 127.0.0.1, ${navigator.hardwareConcurrency} CPUs`,
  );
  postfix = await part("Postfix inbound (until delivered to Maildir)", async () => {
    await ensurePostfix();
    return await postfixInbound(load);
  });
  if (postfix) console.log(`  postfix: ${describe(postfix)}`);
  fsmtp = await part("fsmtp inbound (until smtp-source is done)", () => fsmtpInbound(load));
  if (fsmtp) console.log(`  fsmtp:   ${describe(fsmtp)}`);
  fsmtpChecked = await part(
    "fsmtp inbound, checks on (SPF, DKIM, DMARC, ARC) against a local DNS server (dnsmasq)",
    () => fsmtpInbound(load, "local-dns"),
  );
  if (fsmtpChecked) console.log(`  fsmtp:   ${describe(fsmtpChecked)}`);
  fsmtpSilentDns = await part(
    "fsmtp inbound, checks on against a resolver that never answers (inbound.check_budget; " +
      "a failed lookup is cached 30 s)",
    () => fsmtpInbound(load, "silent-dns"),
  );
  if (fsmtpSilentDns) console.log(`  fsmtp:   ${describe(fsmtpSilentDns)}`);
}

let pop3: Pop3Comparison | undefined;
let rsa: RsaComparison | undefined;
if (runPop3) {
  pop3 = await part(
    `POP3 download (login, LIST, RETR of all), fsmtp beside Dovecot and Dovecot + mail_crypt: ` +
      `${pop3Messages} messages of ${POP3_MESSAGE_SIZE} octets, ${POP3_ROUNDS} rounds`,
    () =>
      pop3Download({
        messages: pop3Messages,
        size: POP3_MESSAGE_SIZE,
        rounds: POP3_ROUNDS,
        log: (line) => console.log(line),
      }),
  );
  for (const e of pop3?.errors ?? []) errors.push(`POP3 download, ${e}`);
  rsa = await part("RSA-OAEP-2048 decryption, beside openssl speed rsa2048", () => rsaComparison());
}

let outbound: OutboundComparison | undefined;
if (runOutbound) {
  console.log(
    `bench: outbound, ${outboundMessages} messages of ${OUTBOUND_SIZE} octets relayed to one ` +
      `smtp-sink on 127.0.0.1, ${OUTBOUND_SESSIONS} client sessions each side; Postfix: ` +
      `smtp-source → smtpd → relayhost (default_destination_concurrency_limit = 20), once ` +
      `without DKIM and once signing through OpenDKIM as smtpd's milter; fsmtp: ` +
      `submission with AUTH PLAIN → DKIM-signed, queued (and a sealed Sent copy) → MX; its ` +
      `${await fsmtpRunnerSettings()}`,
  );
  outbound = await part(
    "outbound relaying, Postfix, Postfix + OpenDKIM, then fsmtp (until the sink counted all)",
    async () => {
      await ensurePostfix();
      return await outboundComparison(outboundMessages);
    },
  );
  const show = (name: string, side: OutboundSide) => {
    const accepted = side.acceptedSeconds.toFixed(2);
    const cpu = (side.cpuSeconds * 1000 / side.messages).toFixed(1);
    console.log(
      `  ${name}: ${side.messages} messages relayed in ${side.seconds.toFixed(2)} s = ` +
        `${side.perSecond.toFixed(1)} msg/s; all accepted after ${accepted} s; ` +
        `MTA CPU ${cpu} ms a message`,
    );
  };
  if (outbound) {
    show("postfix           ", outbound.postfix);
    const signing = outbound.postfixDkim;
    if (typeof signing === "string") console.log(`  postfix + opendkim: ${signing}`);
    else show("postfix + opendkim", signing);
    show("fsmtp             ", outbound.fsmtp);
    const theirs = outbound.postfixDkimCheck;
    console.log(
      `  the sink got every message of each; ${outbound.dkim.passed} of fsmtp's ` +
        `${outbound.dkim.messages} carry a valid rsa-sha256 DKIM signature` +
        (theirs ? `, ${theirs.passed} of Postfix + OpenDKIM's ${theirs.messages} too` : ""),
    );
  }
}

let imap: ImapComparison | undefined;
if (runImap) {
  const imaptest = Deno.env.get("IMAPTEST") || undefined;
  imap = await part(
    `IMAP, fsmtp beside Dovecot and Dovecot+mail_crypt: ${imapMessages} messages of ` +
      `${IMAP_MESSAGE_SIZE} octets in each of two INBOXes, ${IMAP_ROUNDS} rounds`,
    () =>
      imapComparison({
        messages: imapMessages,
        size: IMAP_MESSAGE_SIZE,
        rounds: IMAP_ROUNDS,
        loginClients: IMAP_LOGIN_CLIENTS,
        loginSeconds: values.quick ? 2 : 5,
        stressSeconds: values.quick ? 5 : 10,
        imaptest,
        log: (line) => console.log(line),
      }),
  );
  for (const e of imap?.errors ?? []) errors.push(`IMAP, ${e}`);
}

let idle: IdleResult[] | undefined;
if (runIdle) {
  idle = await part(
    `fsmtp RSS per idle connection: ${idleConnections} connections per listener and TLS mode, ` +
      `a fresh server each`,
    () => idleTls(idleConnections, IMAP_IDLE_MESSAGES, (line) => console.log(line)),
  );
  for (const r of idle ?? []) {
    if ("error" in r) errors.push(`idle ${r.listener} (${r.tls}): ${r.error}`);
  }
}

let burst: MemoryBurst | undefined;
if (runMemory) {
  const clients = values.quick ? 10 : BURST_CLIENTS;
  burst = await part(
    `fsmtp memory, ${clients} SMTP clients sending ${BURST_SIZE / 1_000_000} MB each at once ` +
      `(limits.max_inflight_octets = ${DEFAULT_BUDGET / 1024 / 1024} MiB)`,
    () => memoryBurst(clients, BURST_SIZE),
  );
  if (burst) {
    console.log(
      `  ${burst.accepted} accepted (250), ${burst.refused} refused for now (452 4.3.1), ` +
        `${burst.other.length} other replies in ${burst.seconds.toFixed(1)} s`,
    );
    for (const line of burst.other.slice(0, 3)) console.log(`    other: ${line}`);
  }
}

let cluster: ClusterBench | undefined;
if (runCluster) {
  cluster = await part(
    `cluster: ${clusterMessages} messages of 4096 octets to 2 recipients each (smtp-source), ` +
      `then both mailboxes over POP3 at once, twice; 1 node on SQLite, 1 on Cassandra, 2 on it`,
    () => clusterBench(clusterMessages, (line) => console.log(line)),
  );
  if (cluster && "skipped" in cluster) console.log(`  cluster skipped: ${cluster.skipped}`);
}

if (interruption) await interruption; // no table for an interrupted run

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const ratio = (a: number, b: number) => (a / b).toFixed(2);
const rows: [string, string][] = [];
if (runSmtp) {
  rows.push(
    ["inbound msg/s, Postfix", postfix ? postfix.perSecond.toFixed(1) : "failed"],
    ["inbound msg/s, fsmtp", fsmtp ? fsmtp.perSecond.toFixed(1) : "failed"],
    [
      "ratio fsmtp / Postfix",
      postfix && fsmtp ? (fsmtp.perSecond / postfix.perSecond).toFixed(2) : "-",
    ],
    [
      "inbound msg/s, fsmtp, checks on, local DNS",
      fsmtpChecked ? fsmtpChecked.perSecond.toFixed(1) : "failed",
    ],
    [
      "ratio fsmtp checks on / Postfix (no checks)",
      postfix && fsmtpChecked ? ratio(fsmtpChecked.perSecond, postfix.perSecond) : "-",
    ],
    [
      "inbound msg/s, fsmtp, checks on, DNS never answers",
      fsmtpSilentDns ? fsmtpSilentDns.perSecond.toFixed(1) : "failed",
    ],
    [
      "inbound server CPU ms/msg: Postfix, fsmtp, checks, no DNS",
      [postfix, fsmtp, fsmtpChecked, fsmtpSilentDns]
        .map((t) => t ? (t.cpuSeconds * 1000 / t.messages).toFixed(2) : "-").join(" "),
    ],
    [
      "ratio fsmtp DNS never answers / Postfix",
      postfix && fsmtpSilentDns ? ratio(fsmtpSilentDns.perSecond, postfix.perSecond) : "-",
    ],
  );
}
if (runPop3) {
  const first = (side: Pop3Side | undefined) => side ? side.first.perSecond.toFixed(1) : "failed";
  const repeat = (side: Pop3Side | undefined) => side ? side.median.toFixed(1) : "failed";
  const cpu = (side: Pop3Side | undefined) =>
    side ? `${side.firstCpuMs.toFixed(0)} / ${side.repeatCpuMs.toFixed(0)} ms` : "failed";
  const fs = pop3?.fsmtp;
  const dc = pop3?.dovecot;
  const mc = pop3?.mailCrypt;
  const rounds = `median of ${POP3_ROUNDS}`;
  rows.push(
    ["POP3 msg/s, first download, Dovecot", first(dc)],
    ["POP3 msg/s, first download, Dovecot + mail_crypt", first(mc)],
    ["POP3 msg/s, first download, fsmtp", first(fs)],
    [
      "ratio fsmtp / Dovecot, first",
      fs && dc ? ratio(fs.first.perSecond, dc.first.perSecond) : "-",
    ],
    [
      "ratio fsmtp / Dovecot + mail_crypt, first (aim ≥ 3)",
      fs && mc ? ratio(fs.first.perSecond, mc.first.perSecond) : "-",
    ],
    [`POP3 msg/s, repeat (${rounds}), Dovecot`, repeat(dc)],
    [`POP3 msg/s, repeat (${rounds}), Dovecot + mail_crypt`, repeat(mc)],
    [`POP3 msg/s, repeat (${rounds}), fsmtp`, repeat(fs)],
    ["ratio fsmtp / Dovecot, repeat (aim ≥ 1)", fs && dc ? ratio(fs.median, dc.median) : "-"],
    [
      "ratio fsmtp / Dovecot + mail_crypt, repeat",
      fs && mc ? ratio(fs.median, mc.median) : "-",
    ],
    ["POP3 server CPU per 1,000 msgs first / repeat, Dovecot", cpu(dc)],
    ["POP3 server CPU per 1,000 msgs first / repeat, Dovecot + mail_crypt", cpu(mc)],
    ["POP3 server CPU per 1,000 msgs first / repeat, fsmtp", cpu(fs)],
  );
}
if (runOutbound) {
  rows.push(
    [
      "outbound msg/s, Postfix (no DKIM)",
      outbound ? outbound.postfix.perSecond.toFixed(1) : "failed",
    ],
    [
      "outbound msg/s, fsmtp (DKIM-signed)",
      outbound ? outbound.fsmtp.perSecond.toFixed(1) : "failed",
    ],
    [
      "ratio fsmtp / Postfix, outbound (aim ≥ 1)",
      outbound ? ratio(outbound.fsmtp.perSecond, outbound.postfix.perSecond) : "-",
    ],
    [
      "outbound msg/s, Postfix + OpenDKIM milter",
      !outbound
        ? "failed"
        : typeof outbound.postfixDkim === "string"
        ? "skipped"
        : outbound.postfixDkim.perSecond.toFixed(1),
    ],
    [
      "outbound msg/s, fsmtp (DKIM-signed)",
      outbound ? outbound.fsmtp.perSecond.toFixed(1) : "failed",
    ],
    [
      "ratio fsmtp / Postfix + OpenDKIM (aim ≥ 1.5)",
      outbound && typeof outbound.postfixDkim !== "string"
        ? ratio(outbound.fsmtp.perSecond, outbound.postfixDkim.perSecond)
        : "-",
    ],
  );
}
if (runMemory) {
  const overBudget = burst ? burst.peakKiB - burst.idleKiB - burst.budgetOctets / 1024 : 0;
  rows.push(
    ["burst: fsmtp RSS, idle", burst ? mib(burst.idleKiB) : "failed"],
    ["burst: fsmtp RSS, peak", burst ? mib(burst.peakKiB) : "failed"],
    ["burst: in-flight budget", burst ? mib(burst.budgetOctets / 1024) : "failed"],
    ["burst: peak above idle + budget", burst ? mib(Math.max(0, overBudget)) : "failed"],
    ["burst: fsmtp RSS 10 s after", burst ? mib(burst.afterKiB) : "failed"],
  );
}
if (cluster && "sides" in cluster) {
  const [base, ...others] = cluster.sides;
  for (const side of cluster.sides) {
    rows.push(
      [`${side.name}: inbound msg/s`, side.inbound.toFixed(1)],
      [`${side.name}: POP3 msg/s, first`, side.firstRead.toFixed(1)],
      [`${side.name}: POP3 msg/s, repeat`, side.repeatRead.toFixed(1)],
      [
        `${side.name}: inbound CPU ms/msg, fsmtp + Cassandra`,
        `${side.fsmtpCpuMs.toFixed(1)} + ${(side.cassandraCpuMs ?? 0).toFixed(1)}`,
      ],
    );
  }
  for (const side of others) {
    rows.push([
      `ratio ${side.name} / ${base.name}: inbound, first, repeat`,
      [
        ratio(side.inbound, base.inbound),
        ratio(side.firstRead, base.firstRead),
        ratio(side.repeatRead, base.repeatRead),
      ].join(" "),
    ]);
  }
}
if (rows.length > 0) {
  const width = Math.max(...rows.map(([k]) => k.length));
  const valueWidth = Math.max(...rows.map(([, v]) => v.length));
  console.log("");
  console.log(`${"figure".padEnd(width)}  ${"value".padStart(valueWidth)}`);
  console.log(`${"-".repeat(width)}  ${"-".repeat(valueWidth)}`);
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v.padStart(valueWidth)}`);
}
if (rsa) {
  console.log("");
  for (const line of rsaLines(rsa)) console.log(line);
}
if (runImap) {
  console.log("");
  for (const line of imapTable(imap)) console.log(line);
  if (imap) console.log(`imaptest stress: ${imap.stressSettings}`);
  for (const note of imap?.notes ?? []) console.log(note);
}
if (idle) {
  console.log(
    `\nfsmtp RSS per idle connection (${idleConnections} per row, a fresh server each; ` +
      `settled: 20 s after the last one opened)`,
  );
  for (const line of idleTable(idle, IDLE_AIM_KIB, IMAP_IDLE_MESSAGES)) console.log(line);
}

if (errors.length > 0) {
  console.log("\nfailures:");
  for (const e of errors) console.log(`- ${e}`);
  Deno.exit(1);
}
Deno.exit(0);
