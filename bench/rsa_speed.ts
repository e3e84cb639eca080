/**
 * RSA-OAEP-2048 decryption, the cost of a first read of mail that arrived while its user was
 * away, in each implementation Deno can reach, beside `openssl speed rsa2048` (OpenSSL's own
 * figure for the private-key operation, on the same machine): libcrypto through FFI one call
 * at a time on Deno's thread pool (what a read uses: native_rsa.ts) and in batches of 16 on
 * the worker pool (what a login's bulk re-wrap uses: rsa_pool.ts), WebCrypto, and node:crypto.
 * Each is timed one at a time and, but node:crypto, with several in flight (all of these run
 * the operation off the event loop, on every core).
 *
 * `openssl speed` reports CPU time (user time of its process, not elapsed time), so on a busy
 * machine its figure stays put while every wall-clock figure grows: the comparison is made in
 * CPU milliseconds an operation (this process's user + system time, every thread included),
 * with the wall-clock rate beside it.
 */
import { constants, createPrivateKey, privateDecrypt } from "node:crypto";
import process from "node:process";
import { Buffer } from "node:buffer";
import { NativeRsaKey } from "../src/crypto/native_rsa.ts";
import { rsaPool } from "../src/crypto/rsa_pool.ts";
import { runProgram } from "./util.ts";
import { derOf, oaepSeal, rsaKeyPair } from "../tests/helpers/rsa_fixtures.ts";

/** One implementation's figures. */
export interface RsaFigure {
  name: string;
  /** CPU milliseconds a decryption (this process, all threads), one at a time. */
  cpuMs: number;
  /** Decryptions a second (wall clock), one at a time. */
  perSecond: number;
  /** Decryptions a second with `inFlight` at once (undefined: not measured in parallel). */
  parallelPerSecond?: number;
}

/** The comparison. */
export interface RsaComparison {
  /** `openssl speed rsa2048`: private-key operations a CPU second (undefined: failed). */
  opensslPerSecond?: number;
  inFlight: number;
  figures: RsaFigure[];
}

const LABEL = new TextEncoder().encode("fsmtp/bench/rsa");
const ROUNDS = 400;

/** Wall and CPU milliseconds an operation, `count` of them, `inFlight` at once. */
async function time(count: number, inFlight: number, op: () => Promise<unknown>) {
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next++ < count) await op();
  }));
  const used = process.cpuUsage(cpu);
  return {
    wallMs: (performance.now() - started) / count,
    cpuMs: (used.user + used.system) / 1000 / count,
  };
}

async function figure(name: string, count: number, inFlight: number, op: () => Promise<unknown>) {
  await time(Math.ceil(count / 20), 1, op); // warm up
  const one = await time(count, 1, op);
  return {
    name,
    cpuMs: one.cpuMs,
    perSecond: 1000 / one.wallMs,
    parallelPerSecond: inFlight > 1 ? 1000 / (await time(count, inFlight, op)).wallMs : undefined,
  };
}

/** `openssl speed -seconds 2 rsa2048`'s private-key operations a second. */
async function opensslSpeed(): Promise<number | undefined> {
  const r = await runProgram("openssl", ["speed", "-seconds", "2", "rsa2048"]);
  // "rsa 2048 bits 0.000240s 0.000016s   4172.1  61803.0": sign/s is the 5th field.
  const line = r.stdout.split("\n").find((l) => l.startsWith("rsa 2048 bits"));
  const fields = line?.trim().split(/\s+/);
  return fields && fields.length >= 6 ? Number(fields[5]) : undefined;
}

/** Times every implementation; `inFlight` decryptions at once for the parallel figures. */
export async function rsaComparison(inFlight = 4): Promise<RsaComparison> {
  const pair = await rsaKeyPair();
  const pkcs8 = await derOf(pair.privateKey);
  const sealed = await oaepSeal(pair.publicKey, crypto.getRandomValues(new Uint8Array(32)), LABEL);
  const figures: RsaFigure[] = [];
  const native = NativeRsaKey.fromPkcs8(pkcs8);
  if (native) {
    const op = () => native.decrypt(sealed, LABEL);
    figures.push(await figure("libcrypto, FFI one at a time (reads)", ROUNDS, inFlight, op));
    // The login's bulk re-wrap: batches of 16 on the worker pool, one worker per core.
    const batch = Array.from({ length: 16 }, () => sealed);
    const many = () => rsaPool.decryptMany(native, batch, LABEL);
    const pooled = await figure("libcrypto, worker pool (re-wrap)", ROUNDS / 16, inFlight, many);
    figures.push({
      ...pooled,
      cpuMs: pooled.cpuMs / batch.length,
      perSecond: pooled.perSecond * batch.length,
      parallelPerSecond: pooled.parallelPerSecond! * batch.length,
    });
  }
  const web = () =>
    crypto.subtle.decrypt({ name: "RSA-OAEP", label: LABEL }, pair.privateKey, sealed);
  figures.push(await figure("WebCrypto", ROUNDS / 4, inFlight, web));
  const key = createPrivateKey({
    key: Buffer.from(pkcs8),
    format: "der",
    type: "pkcs8",
  });
  const nodeOp = () =>
    Promise.resolve(privateDecrypt({
      key,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: "sha256",
      oaepLabel: LABEL,
    }, sealed));
  figures.push(await figure("node:crypto privateDecrypt", ROUNDS / 4, 1, nodeOp));
  return { opensslPerSecond: await opensslSpeed(), inFlight, figures };
}

/** The comparison as lines for the bench's output. */
export function rsaLines(r: RsaComparison): string[] {
  const openssl = r.opensslPerSecond;
  const lines = [
    "RSA-OAEP-2048 decryption (first read of mail that arrived while its user was away), " +
    "CPU ms an operation:",
    `  ${"openssl speed rsa2048 (private-key op)".padEnd(38)} ` +
    (openssl ? `${(1000 / openssl).toFixed(3)} ms` : "failed"),
  ];
  for (const f of r.figures) {
    lines.push(
      `  ${f.name.padEnd(38)} ${f.cpuMs.toFixed(3)} ms` +
        (openssl ? ` (${(f.cpuMs * openssl / 1000).toFixed(2)}× openssl)` : "") +
        `; wall ${f.perSecond.toFixed(0)}/s one at a time` +
        (f.parallelPerSecond === undefined
          ? ""
          : `, ${f.parallelPerSecond.toFixed(0)}/s with ${r.inFlight} in flight`),
    );
  }
  return lines;
}

if (import.meta.main) {
  for (const line of rsaLines(await rsaComparison())) console.log(line);
}
