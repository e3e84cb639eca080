/**
 * Run before the test suite (`deno task test`): makes sure the programs the end-to-end tests
 * talk to are installed. As root with apt-get it installs what is missing; otherwise it names
 * the missing packages and how to get them, and fails.
 */

/** Command → Debian package providing it. */
const NEEDED: Record<string, string> = {
  swaks: "swaks",
  openssl: "openssl",
  python3: "python3",
  dnsmasq: "dnsmasq-base",
  fetchmail: "fetchmail",
  curl: "curl",
  getmail: "getmail6",
  dkimverify: "python3-dkim", // dkimpy (+ dnspython, PyNaCl) for /usr/bin/python3: DKIM e2e
  "opendkim-testmsg": "opendkim-tools",
  ip: "iproute2", // loopback in the namespace tests/e2e/dkim_opendkim.py runs in
  postfix: "postfix", // a real MTA for the outbound tests (installed unconfigured)
  mbsync: "isync", // a real IMAP synchroniser for tests/e2e/imap_mbsync_test.ts
  "redis-server": "redis-server", // a real Redis for the feed, coordinator and two-node tests
  "redis-cli": "redis-server",
  dig: "bind9-dnsutils", // BIND's DNS client against fsmtp's DNS server (tests/e2e/dns_dig_test.ts)
  // Prometheus' own text-format parser, for /usr/bin/python3: tests/e2e/http_api_test.ts.
  "/usr/bin/python3 -c 'import prometheus_client.parser'": "python3-prometheus-client",
};

function has(command: string): boolean {
  const found = new Deno.Command("sh", {
    // A check with arguments is run as it is; a bare name is looked up on PATH.
    args: ["-c", command.includes(" ") ? `${command} >/dev/null 2>&1` : `command -v ${command}`],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return found.success;
}

function run(args: string[]): boolean {
  console.error(`prepare: ${args.join(" ")}`);
  const out = new Deno.Command(args[0], {
    args: args.slice(1),
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdout: "inherit",
    stderr: "inherit",
  }).outputSync();
  return out.success;
}

const missing = Object.entries(NEEDED).filter(([command]) => !has(command));
if (missing.length > 0) {
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  const isRoot = Deno.uid?.() === 0;
  if (isRoot && has("apt-get")) {
    // Postfix asks how to configure itself; the tests write their own config.
    new Deno.Command("sh", {
      args: [
        "-c",
        'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections',
      ],
    }).outputSync();
    if (
      !run(["apt-get", "update", "-q"]) || !run(["apt-get", "install", "-y", "-q", ...packages])
    ) {
      console.error(`prepare: installing ${packages.join(" ")} failed`);
      Deno.exit(1);
    }
  } else {
    console.error(
      `prepare: the tests need ${missing.map(([c]) => c).join(", ")}. ` +
        `Install them with: sudo apt-get install ${packages.join(" ")}`,
    );
    Deno.exit(1);
  }
}
