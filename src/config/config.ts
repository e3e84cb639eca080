/**
 * The typed configuration and its embedded defaults.
 *
 * Key names are a contract with operators and scripts (DESIGN.md, "The contract"): rename none.
 */

/** `auth.allow_plaintext`: when a login may happen without TLS. */
export type PlaintextPolicy = "never" | "loopback" | "always";

/** Log verbosity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The whole configuration after defaults, file and `FSMTP_*` overrides are merged. */
export interface Config {
  hostname: string;
  domains: string[];
  data_dir: string;
  keys_dir: string;
  node_id: string;
  log_level: LogLevel;
  listen: {
    smtp: string;
    submission: string;
    submissions: string;
    pop3: string;
    pop3s: string;
    imap: string;
    imaps: string;
  };
  tls: { cert: string; key: string };
  auth: {
    allow_plaintext: PlaintextPolicy;
    /** Milliseconds a failed login waits before its answer. */
    failure_delay: number;
    /** Failed logins from one IP within `failure_window` after which its logins are refused. */
    max_failures_per_ip: number;
    /** Milliseconds a failed login counts against its address. */
    failure_window: number;
  };
  inbound: {
    /** Check DKIM, SPF, DMARC and ARC of mail arriving on the MX listener. */
    checks: boolean;
    /** "enforce": honour p=reject (refuse) and p=quarantine (Junk); "record": only record. */
    dmarc_policy: "enforce" | "record";
    /**
     * Milliseconds the checks of one message may take all told, DNS included; lookups still
     * unanswered then are recorded as temperror (RFC 8601) and the message goes on.
     */
    check_budget: number;
  };
  dkim: {
    /** DKIM selector (RFC 6376 §3.1); keys per domain live in keys_dir. */
    selector: string;
    /**
     * Milliseconds between new DKIM keys (dated selectors); 0 = never rotate, sign with
     * `selector`. Automatic only where fsmtp's DNS server runs; `--dkim-rotate` otherwise.
     */
    rotate: number;
    /** Milliseconds a new key is published before it signs; longer than `dns.ttl`. */
    publish_ahead: number;
    /** Milliseconds an old key stays published after it last signed; then it is deleted. */
    retire_after: number;
  };
  dns: {
    /** "host:port" of the authoritative DNS server (UDP and TCP); "" = off. */
    listen: string;
    /** Addresses published as the hostname's A records. */
    ipv4: string[];
    /** Addresses published as the hostname's AAAA records. */
    ipv6: string[];
    /** Milliseconds (whole seconds) resolvers may cache the records. */
    ttl: number;
    /** The id of the MTA-STS policy (RFC 8461 §3.1) in `_mta-sts` TXT; "" = none published. */
    mta_sts_id: string;
    /** UDP answers per second per client /24 or /56; beyond it dropped or truncated. 0 = off. */
    rate_limit: number;
  };
  outbound: {
    /** "host:port" of the DNS server for MX lookups; "" = the system's resolver. */
    resolver: string;
    /** Remote SMTP port (25 in production; tests point it at a peer on 127.0.0.1). */
    port: number;
    /** Defer rather than send in clear when the peer offers no STARTTLS. */
    require_tls: boolean;
    /** Smarthost "host:port"; "" = deliver by MX. */
    relay_host: string;
    relay_user: string;
    relay_password: string;
    /** Milliseconds a message may wait in the queue before it bounces. */
    max_age: number;
    /** Milliseconds after which the sender is told a message is still waiting (RFC 3464). */
    delay_warning: number;
    /**
     * Milliseconds a node holds a queued message it took for delivery (Cassandra only): how long
     * a crashed node's messages wait before another node sends them. Longer than any delivery
     * attempt of one message, or two nodes may send it at once.
     */
    lease: number;
  };
  limits: {
    max_message_size: number;
    max_recipients: number;
    max_line_length: number;
    /** Milliseconds (written as a duration such as "5m" in the file). */
    command_timeout: number;
    /**
     * Milliseconds a command line may take from its first octet to its end, however often it
     * trickles (the idle timeout restarts with every octet; this does not).
     */
    line_deadline: number;
    /**
     * Octets per second message content (DATA, BDAT, IMAP literals) must average once the
     * first `command_timeout` of the transfer has passed.
     */
    min_data_rate: number;
    max_connections: number;
    max_connections_per_ip: number;
    /** Protocol errors in one session before it is cut (421). */
    max_errors: number;
    /** Octets of message content all sessions together may hold in memory while receiving. */
    max_inflight_octets: number;
    /** IMAP sessions one user may have open at once. */
    max_connections_per_user: number;
  };
  quota: {
    /** Octets each user may store; 0 = no quota (IMAP QUOTA, RFC 9208). */
    max_octets: number;
  };
  store: {
    /** The primary store: the embedded SQLite file, or a Cassandra cluster (with Redis). */
    backend: "sqlite" | "cassandra";
  };
  cassandra: {
    /** "host" or "host:port" of nodes to contact first. */
    contact_points: string[];
    /** The data centre whose nodes are asked first. */
    local_dc: string;
    keyspace: string;
    /** Replicas in the local data centre, used when the keyspace is created. */
    replication_factor: number;
    /** Consistency of reads and writes (LOCAL_QUORUM survives one node down of three). */
    consistency: string;
    user: string;
    password: string;
    /** Speak TLS to the nodes; `tls_ca` a PEM file of the CA to trust ("" = the system's). */
    tls: boolean;
    tls_ca: string;
  };
  redis: {
    /** "redis://host:port/db" ("rediss://" for TLS); "" = no Redis (one node on SQLite). */
    url: string;
    /**
     * Milliseconds a POP3 maildrop lock or an IMAP session of a node keeps counting after the
     * node's last refresh: how long a crashed node's locks last.
     */
    lock_ttl: number;
  };
  http: {
    /** "host:port" of the HTTP API, autoconfig, /metrics and /healthz; "" = off. */
    listen: string;
    /** Messages one API token may send per minute (429 beyond). */
    rate_limit: number;
    /** Milliseconds the per-recipient status of an API message is kept. */
    status_retention: number;
    /**
     * Bearer token that lets non-loopback clients read /metrics; "" = /metrics answers
     * loopback clients only.
     */
    metrics_token: string;
    /**
     * "auto": HTTPS with tls.cert/tls.key, but plain HTTP on a loopback address (behind a local
     * reverse proxy); "always": HTTPS on loopback too.
     */
    tls: "auto" | "always";
  };
}

/** The listeners by config key, in the order they are started and printed. */
export const LISTENER_KEYS = [
  "smtp",
  "submission",
  "submissions",
  "pop3",
  "pop3s",
  "imap",
  "imaps",
] as const;

/** One of the `[listen]` keys. */
export type ListenerKey = typeof LISTENER_KEYS[number];

/** The embedded defaults: `fsmtp --run=all` works with no config file at all. */
export function defaultConfig(): Config {
  return {
    hostname: "localhost",
    domains: ["localhost"],
    data_dir: "data",
    keys_dir: "env/keys",
    node_id: "node-1",
    log_level: "info",
    listen: {
      smtp: "0.0.0.0:2525",
      submission: "0.0.0.0:2587",
      submissions: "0.0.0.0:2465",
      pop3: "0.0.0.0:2110",
      pop3s: "0.0.0.0:2995",
      imap: "0.0.0.0:2143",
      imaps: "0.0.0.0:2993",
    },
    tls: { cert: "env/keys/cert.pem", key: "env/keys/key.pem" },
    auth: {
      allow_plaintext: "loopback",
      failure_delay: 2000,
      max_failures_per_ip: 10,
      failure_window: 15 * 60_000,
    },
    inbound: { checks: true, dmarc_policy: "enforce", check_budget: 5000 },
    // rotate: existing installs keep signing with `selector` until fsmtp's DNS server runs or
    // `--dkim-rotate` is called: nothing rotates where nobody publishes the new keys.
    dkim: {
      selector: "default",
      rotate: 86_400_000,
      publish_ahead: 3_600_000,
      retire_after: 7 * 86_400_000,
    },
    dns: { listen: "", ipv4: [], ipv6: [], ttl: 1_800_000, mta_sts_id: "", rate_limit: 20 },
    outbound: {
      resolver: "",
      port: 25,
      require_tls: false,
      relay_host: "",
      relay_user: "",
      relay_password: "",
      max_age: 5 * 86_400_000,
      delay_warning: 4 * 3_600_000,
      lease: 10 * 60_000,
    },
    limits: {
      max_message_size: 26_214_400,
      max_recipients: 100,
      max_line_length: 4096,
      command_timeout: 5 * 60_000,
      line_deadline: 60_000,
      min_data_rate: 100,
      max_connections: 1000,
      max_connections_per_ip: 20,
      max_errors: 20,
      max_inflight_octets: 512 * 1024 * 1024,
      max_connections_per_user: 20,
    },
    quota: { max_octets: 0 },
    store: { backend: "sqlite" },
    cassandra: {
      contact_points: ["127.0.0.1:9042"],
      local_dc: "datacenter1",
      keyspace: "fsmtp",
      replication_factor: 1,
      consistency: "local_quorum",
      user: "",
      password: "",
      tls: false,
      tls_ca: "",
    },
    redis: { url: "", lock_ttl: 30_000 },
    http: {
      listen: "",
      rate_limit: 60,
      status_retention: 7 * 86_400_000,
      metrics_token: "",
      tls: "auto",
    },
  };
}
