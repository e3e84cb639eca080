/**
 * Outbound throughput (issue 5): fsmtp and Postfix each relay the same messages of ~4 KiB to
 * one `smtp-sink` on loopback; the time runs from the first message handed over until the sink
 * has counted them all. Postfix is fed by smtp-source and relays through `relayhost`; fsmtp is
 * fed through submission with AUTH (as a user's mail client would), DKIM-signs each message,
 * queues it durably and delivers it by MX (dnsmasq on loopback answers MX → 127.0.0.1).
 */
import { DnsServer } from "../tests/helpers/dns_server.ts";
import { FsmtpServer, PASSWORD } from "./fsmtp_server.ts";
import { PostfixPeer } from "./postfix_peer.ts";
import { startSmtpSource } from "./smtp_source.ts";
import { sendMessages } from "./smtp_send.ts";
import { checkInterrupted, freePort, waitUntil } from "./util.ts";

const SINK_DOMAIN = "sink.example";
const SIZE = 4096;
const SESSIONS = 20;

/** One side's figure. */
export interface OutboundSide {
  messages: number;
  seconds: number;
  perSecond: number;
}

/** A running smtp-sink and its message counter. */
class Sink {
  #count = 0;
  private constructor(readonly port: number, private readonly child: Deno.ChildProcess) {}

  static start(): Sink {
    const port = freePort();
    // -c prints "sess=… quit=… mesg=N" with carriage returns as messages arrive.
    const child = new Deno.Command("/usr/sbin/smtp-sink", {
      args: ["-u", "nobody", "-c", `127.0.0.1:${port}`, "256"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const sink = new Sink(port, child);
    sink.#read();
    return sink;
  }

  get count(): number {
    return this.#count;
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let tail = "";
    for await (const chunk of this.child.stdout) {
      tail = (tail + decoder.decode(chunk, { stream: true })).slice(-200);
      const all = [...tail.matchAll(/mesg=(\d+)/g)];
      if (all.length > 0) this.#count = Number(all[all.length - 1][1]);
    }
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.child.status;
  }
}

function message(i: number, from: string): string {
  const head = `From: ${from}\r\nTo: to@${SINK_DOMAIN}\r\nSubject: outbound ${i}\r\n\r\n`;
  const line = "x".repeat(70) + "\r\n";
  return head + line.repeat(Math.floor((SIZE - head.length) / line.length));
}

async function timeUntil(sink: Sink, target: number, start: () => Promise<unknown>) {
  const started = performance.now();
  await start();
  await waitUntil(() => Promise.resolve(sink.count >= target), 600_000, "the sink's count", 20);
  return (performance.now() - started) / 1000;
}

/** Runs both sides against one sink; Postfix first, then fsmtp. */
export async function outboundComparison(
  messages: number,
): Promise<{ postfix: OutboundSide; fsmtp: OutboundSide }> {
  const sink = Sink.start();
  const dns = await DnsServer.start({
    mx: { [SINK_DOMAIN]: [[10, `mx.${SINK_DOMAIN}`]] },
    a: { [`mx.${SINK_DOMAIN}`]: "127.0.0.1" },
  });
  try {
    await waitUntil(
      async () => {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port: sink.port })).close();
          return true;
        } catch {
          return false;
        }
      },
      10_000,
      "smtp-sink to listen",
    );
    const postfix = await PostfixPeer.start({
      domain: "pf.bench.example",
      users: [],
      relayHost: `127.0.0.1:${sink.port}`,
    });
    let postfixSeconds: number;
    try {
      const before = sink.count;
      postfixSeconds = await timeUntil(sink, before + messages, async () => {
        const run = startSmtpSource(postfix.port, {
          sessions: SESSIONS,
          messages,
          size: SIZE,
          recipients: 1,
          from: "sender@pf.bench.example",
          to: `to@${SINK_DOMAIN}`,
        });
        const result = await run.done;
        if (result.code !== 0) throw new Error(`smtp-source failed: ${result.output}`);
      });
    } finally {
      await postfix.stop();
      await postfix.cleanup();
    }
    checkInterrupted();
    const user = "sender@bench.example";
    const fsmtp = await FsmtpServer.start("bench.example", [user], {
      submission: true,
      outbound: { port: sink.port, resolver: dns.address },
    });
    let fsmtpSeconds: number;
    try {
      const bodies = Array.from({ length: messages }, (_, i) => message(i, user));
      const before = sink.count;
      fsmtpSeconds = await timeUntil(sink, before + messages, () =>
        sendMessages(
          fsmtp.submissionPort!,
          { from: user, to: `to@${SINK_DOMAIN}` },
          bodies,
          SESSIONS,
          { user, password: PASSWORD },
        ));
    } finally {
      await fsmtp.stop();
      await fsmtp.cleanup();
    }
    return {
      postfix: { messages, seconds: postfixSeconds, perSecond: messages / postfixSeconds },
      fsmtp: { messages, seconds: fsmtpSeconds, perSecond: messages / fsmtpSeconds },
    };
  } finally {
    await dns.stop();
    await sink.stop();
  }
}
