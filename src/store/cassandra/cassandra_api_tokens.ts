/**
 * The HTTP API's tokens and message statuses on Cassandra (schema version 2), shared by every
 * node. Tokens are written to two tables (by id, by user) in one logged batch, so a token
 * listed is a token that works and a revoked one is gone from both.
 */
import type { ApiTokenRecord, ApiTokenStore } from "../api_tokens.ts";
import type {
  DeliveryState,
  DeliveryStatusRecord,
  DeliveryStatusStore,
  RecipientState,
} from "../delivery_status.ts";
import { StoreError } from "../mail_store.ts";
import { bytes, type CqlSession, num, optStr, type Row, str } from "./session.ts";

/** Both ports on a keyspace; made by `CassandraMailStore.apiTokens`. */
export class CassandraApiStore implements ApiTokenStore, DeliveryStatusStore {
  constructor(private readonly s: CqlSession, private readonly isOpen: () => boolean) {}

  async addToken(token: ApiTokenRecord): Promise<void> {
    this.#checkOpen();
    if (!(await this.s.row("SELECT address FROM users WHERE address = ?", [token.address]))) {
      throw new StoreError(`no user ${token.address}`, "not-found");
    }
    const cas = await this.s.cas(
      "INSERT INTO api_tokens (id, address, hash, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS",
      [token.id, token.address, token.hash, token.createdAt],
    );
    if (!cas.applied) throw new StoreError(`token id ${token.id} is in use`, "exists");
    await this.s.run(
      "INSERT INTO api_tokens_by_user (address, id, created_at) VALUES (?, ?, ?)",
      [token.address, token.id, token.createdAt],
    );
  }

  async getToken(id: string): Promise<ApiTokenRecord | undefined> {
    this.#checkOpen();
    const row = await this.s.row("SELECT * FROM api_tokens WHERE id = ?", [id]);
    return row && toToken(row);
  }

  async listTokens(address: string): Promise<ApiTokenRecord[]> {
    this.#checkOpen();
    const ids = await this.s.rows("SELECT id FROM api_tokens_by_user WHERE address = ?", [
      address,
    ]);
    const found = await Promise.all(ids.map((r) => this.getToken(str(r, "id"))));
    return found
      .filter((t): t is ApiTokenRecord => t !== undefined && t.address === address)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  async revokeToken(address: string, id: string): Promise<boolean> {
    this.#checkOpen();
    const token = await this.getToken(id);
    if (!token || token.address !== address) return false;
    await this.s.batch([
      { query: "DELETE FROM api_tokens WHERE id = ?", params: [id] },
      {
        query: "DELETE FROM api_tokens_by_user WHERE address = ? AND id = ?",
        params: [address, id],
      },
    ]);
    return true;
  }

  async trackMessage(record: DeliveryStatusRecord, retainMs: number): Promise<void> {
    this.#checkOpen();
    const expiresAt = record.createdAt + retainMs;
    await this.s.batch(record.recipients.map((r) => ({
      query: `INSERT INTO delivery_status (message_id, address, owner, state, detail, created_at,
                updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
      params: [
        record.id,
        r.address,
        record.owner,
        r.state,
        r.detail ?? null,
        record.createdAt,
        r.updatedAt,
        expiresAt,
        ttlSeconds(expiresAt),
      ],
    })));
  }

  async updateRecipients(id: string, changes: RecipientState[]): Promise<void> {
    this.#checkOpen();
    // An UPDATE would create the row: only rows that exist change, and they keep their expiry.
    const rows = await this.s.rows(
      "SELECT address, expires_at FROM delivery_status WHERE message_id = ?",
      [id],
    );
    const expiry = new Map(rows.map((r) => [str(r, "address"), num(r, "expires_at")]));
    const writes = changes.filter((c) => expiry.has(c.address)).map((c) => ({
      query: `UPDATE delivery_status USING TTL ? SET state = ?, detail = ?, updated_at = ?
              WHERE message_id = ? AND address = ?`,
      params: [
        ttlSeconds(expiry.get(c.address)!),
        c.state,
        c.detail ?? null,
        c.updatedAt,
        id,
        c.address,
      ],
    }));
    if (writes.length > 0) await this.s.batch(writes);
  }

  async getStatus(id: string): Promise<DeliveryStatusRecord | undefined> {
    this.#checkOpen();
    const rows = await this.s.rows("SELECT * FROM delivery_status WHERE message_id = ?", [id]);
    if (rows.length === 0) return undefined;
    return {
      id,
      owner: str(rows[0], "owner"),
      createdAt: num(rows[0], "created_at"),
      recipients: rows.map((row) => {
        const detail = optStr(row, "detail");
        return {
          address: str(row, "address"),
          state: str(row, "state") as DeliveryState,
          ...(detail === undefined ? {} : { detail }),
          updatedAt: num(row, "updated_at"),
        };
      }),
    };
  }

  #checkOpen(): void {
    if (!this.isOpen()) throw new StoreError("the store is closed", "unavailable");
  }
}

/** Seconds left until `expiresAt`, at least 1 (a TTL of 0 would mean "never expires"). */
function ttlSeconds(expiresAt: number): number {
  return Math.max(1, Math.ceil((expiresAt - Date.now()) / 1000));
}

function toToken(row: Row): ApiTokenRecord {
  return {
    id: str(row, "id"),
    address: str(row, "address"),
    hash: bytes(row, "hash"),
    createdAt: num(row, "created_at"),
  };
}
