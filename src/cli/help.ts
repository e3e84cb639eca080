/** The usage text of `fsmtp -h`. */
export const HELP_TEXT = `fsmtp — one-binary mail server

Usage: fsmtp COMMAND [--config PATH]

Commands:
  -h, --help                      this text
  -r, --run=smtp|pop3|imap|http|dns|all
                                  start the servers (all: every listener configured;
                                  dns: the authoritative DNS server of [dns] listen;
                                  http: the API, autoconfig and metrics of [http] listen)
  -a, --adduser ADDRESS           add a user; asks for the password (not echoed)
        [--password-stdin]        read the password from standard input instead
        [--recovery-key]          also print a one-time recovery key for the mail
      --deluser ADDRESS           delete a user and all their mail
      --passwd ADDRESS            change a password; asks for the current one first
        [--password-stdin]        read current and new password, one per line
        [--recovery-key]          use the recovery key instead of the current password
      --users                     list users
      --token ADDRESS             make an HTTP API token for a user, printed once
        [--revoke ID]             revoke the user's token ID instead
      --tokens ADDRESS            list a user's HTTP API tokens (ids, creation times)
      --queue [retry ID|all | delete ID]
                                  list the outbound queue, retry or delete a message
      --dns-records [DOMAIN]      print the DNS records (MX, SPF, DKIM, DMARC, SRV) to
                                  publish, with every DKIM selector published now
      --dkim-rotate               publish a new DKIM key now (it signs after
                                  dkim.publish_ahead) and withdraw retired ones
  -t, --test                      check config, keys, store and ports; exit 1 on any FAIL
  -m, --mailtest --from A --to B  compose, DKIM-sign and send a test mail (through the queue)
        [--subject S] [--text T | --html H] [--attach FILE]…
        [--direct] [--verbose]    send now instead, printing the SMTP conversation
  -s, --sync                      rebuild the Redis cache (redis.url) from the store
      --migrate-store [--force]   copy the SQLite store in data_dir into the Cassandra
                                  keyspace (store.backend = "cassandra"); --force replaces
                                  users the keyspace holds other data for

Options:
      --config PATH               config file (default env/fsmtp.toml; embedded
                                  defaults when that file does not exist)

Every config key can be overridden by an environment variable FSMTP_<SECTION>_<KEY>,
e.g. FSMTP_LISTEN_SMTP=127.0.0.1:2525. The original's single-dash forms (-adduser,
-test, …) work too.`;
