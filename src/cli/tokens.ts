/**
 * `--token ADDRESS` makes an HTTP API token for a user and prints it once (only its hash is
 * kept); `--token ADDRESS --revoke ID` revokes one; `--tokens ADDRESS` lists a user's tokens
 * by id and creation time.
 */
import { loadConfig } from "../config/load_config.ts";
import { newToken } from "../http/api_token.ts";
import { openStore } from "./setup.ts";
import { checkUserAddress } from "./users.ts";

/** Options of the token commands. */
export interface TokenCommandOptions {
  config: string | undefined;
  /** The id to revoke; absent to make a new token. */
  revoke?: string;
  print?: (line: string) => void;
  printError?: (line: string) => void;
}

/** `--token ADDRESS [--revoke ID]`; returns the exit code. */
export async function tokenCommand(address: string, opts: TokenCommandOptions): Promise<number> {
  const print = opts.print ?? console.log;
  const printError = opts.printError ?? console.error;
  const { config } = loadConfig(opts.config);
  const user = checkUserAddress(address, config.domains);
  const store = await openStore(config);
  try {
    if (!(await store.getUser(user))) {
      printError(`fsmtp: no user ${user}; add one with --adduser ${user}`);
      return 1;
    }
    if (opts.revoke !== undefined) {
      if (!(await store.apiTokens.revokeToken(user, opts.revoke))) {
        printError(`fsmtp: ${user} has no token ${opts.revoke} (see --tokens ${user})`);
        return 1;
      }
      print(`revoked token ${opts.revoke} of ${user}`);
      return 0;
    }
    const made = await newToken(user);
    await store.apiTokens.addToken(made.record);
    print(`token ${made.record.id} for ${user} (shown once; only its hash is kept):`);
    print(`  ${made.token}`);
    print(`use it as: Authorization: Bearer ${made.token.slice(0, 12)}…`);
    return 0;
  } finally {
    await store.close();
  }
}

/** `--tokens ADDRESS`: one line per token, oldest first. */
export async function listTokensCommand(
  address: string,
  opts: Pick<TokenCommandOptions, "config" | "print">,
): Promise<number> {
  const print = opts.print ?? console.log;
  const { config } = loadConfig(opts.config);
  const user = checkUserAddress(address, config.domains);
  const store = await openStore(config);
  try {
    const tokens = await store.apiTokens.listTokens(user);
    if (tokens.length === 0) print(`${user} has no API tokens`);
    for (const t of tokens) print(`${t.id}  created ${new Date(t.createdAt).toISOString()}`);
    return 0;
  } finally {
    await store.close();
  }
}
