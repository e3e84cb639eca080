/**
 * A real DNS server for tests: dnsmasq on 127.0.0.1 and a free port, answering only the
 * records the test gives it (no upstream, no /etc/hosts), so nothing leaves the machine.
 */
import { freePort } from "./test_server.ts";

/** Records to serve. TXT values longer than 255 octets are split for you; no commas in them. */
export interface DnsRecords {
  txt?: Record<string, string>;
  /** Domain → [preference, exchange][] */
  mx?: Record<string, [number, string][]>;
  a?: Record<string, string>;
}

/** A running dnsmasq. */
export class DnsServer {
  private constructor(readonly port: number, private readonly child: Deno.ChildProcess) {}

  /** Starts dnsmasq and waits until it answers. */
  static async start(records: DnsRecords = {}): Promise<DnsServer> {
    const port = freePort();
    const args = [
      "--no-daemon",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      `--port=${port}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--user=root",
      "--pid-file=",
    ];
    for (const [name, value] of Object.entries(records.txt ?? {})) {
      const chunks = value.match(/.{1,255}/g) ?? [""];
      // dnsmasq splits strings at commas and keeps quotes literally: pass the chunks bare.
      args.push(`--txt-record=${name},${chunks.join(",")}`);
    }
    for (const [domain, list] of Object.entries(records.mx ?? {})) {
      for (const [pref, host] of list) args.push(`--mx-host=${domain},${host},${pref}`);
    }
    for (const [name, ip] of Object.entries(records.a ?? {})) {
      args.push(`--host-record=${name},${ip}`);
    }
    const child = new Deno.Command("dnsmasq", { args, stdout: "null", stderr: "piped" }).spawn();
    const server = new DnsServer(port, child);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await Deno.resolveDns("probe.invalid", "A", {
          nameServer: { ipAddr: "127.0.0.1", port },
          signal: AbortSignal.timeout(500),
        });
        break;
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) break;
        if (Date.now() > deadline) {
          await server.stop();
          throw new Error(`dnsmasq did not start on port ${port}`);
        }
      }
    }
    return server;
  }

  /** `host:port` for `outbound.resolver`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Stops dnsmasq. */
  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.child.stderr.cancel().catch(() => {});
    await this.child.status;
  }
}
