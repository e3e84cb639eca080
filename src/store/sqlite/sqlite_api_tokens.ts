/**
 * The HTTP API's tokens and message statuses on the store's SQLite file (migration 4), through
 * the store's connection. Both are small, rare writes that commit on their own.
 */
import type { ApiTokenRecord, ApiTokenStore } from "../api_tokens.ts";
import type {
  DeliveryState,
  DeliveryStatusRecord,
  DeliveryStatusStore,
  RecipientState,
} from "../delivery_status.ts";
import { StoreError } from "../mail_store.ts";
import type { Statements } from "./statements.ts";
import { blob, int, type Row, text } from "./rows.ts";

/** Both ports on an open connection; made by `SqliteMailStore.apiTokens`. */
export class SqliteApiStore implements ApiTokenStore, DeliveryStatusStore {
  /**
   * @param sql the connection's statements (schema migration 4 applied)
   * @param isOpen false once the owner closed the connection: methods then reject
   */
  constructor(private readonly sql: Statements, private readonly isOpen: () => boolean) {}

  addToken(token: ApiTokenRecord): Promise<void> {
    return this.#do(() => {
      if (this.sql.get("SELECT 1 AS x FROM api_tokens WHERE id = ?", token.id)) {
        throw new StoreError(`token id ${token.id} is in use`, "exists");
      }
      if (!this.sql.get("SELECT 1 AS x FROM users WHERE address = ?", token.address)) {
        throw new StoreError(`no user ${token.address}`, "not-found");
      }
      this.sql.run(
        "INSERT INTO api_tokens (id, address, hash, created_at) VALUES (?, ?, ?, ?)",
        token.id,
        token.address,
        token.hash,
        token.createdAt,
      );
    });
  }

  getToken(id: string): Promise<ApiTokenRecord | undefined> {
    return this.#do(() => {
      const row = this.sql.get("SELECT * FROM api_tokens WHERE id = ?", id);
      return row && toToken(row);
    });
  }

  listTokens(address: string): Promise<ApiTokenRecord[]> {
    return this.#do(() =>
      this.sql.all("SELECT * FROM api_tokens WHERE address = ? ORDER BY created_at, id", address)
        .map(toToken)
    );
  }

  revokeToken(address: string, id: string): Promise<boolean> {
    return this.#do(() =>
      this.sql.run("DELETE FROM api_tokens WHERE id = ? AND address = ?", id, address) > 0
    );
  }

  trackMessage(record: DeliveryStatusRecord, retainMs: number): Promise<void> {
    return this.#do(() =>
      this.sql.transaction(() => {
        // Pruning here keeps the table at what was sent within the retention, with no timer.
        this.sql.run("DELETE FROM delivery_status WHERE expires_at <= ?", record.createdAt);
        for (const r of record.recipients) {
          this.sql.run(
            `INSERT INTO delivery_status (message_id, address, owner, state, detail, created_at,
               updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            record.id,
            r.address,
            record.owner,
            r.state,
            r.detail ?? null,
            record.createdAt,
            r.updatedAt,
            record.createdAt + retainMs,
          );
        }
      })
    );
  }

  updateRecipients(id: string, changes: RecipientState[]): Promise<void> {
    return this.#do(() => {
      // Every outbound attempt comes here, most of them for messages no API call sent: those
      // cost one indexed read, and a tracked message's recipients change in one commit.
      if (!this.sql.get("SELECT 1 FROM delivery_status WHERE message_id = ? LIMIT 1", id)) return;
      this.sql.transaction(() => {
        for (const c of changes) {
          this.sql.run(
            `UPDATE delivery_status SET state = ?, detail = ?, updated_at = ?
             WHERE message_id = ? AND address = ?`,
            c.state,
            c.detail ?? null,
            c.updatedAt,
            id,
            c.address,
          );
        }
      });
    });
  }

  getStatus(id: string): Promise<DeliveryStatusRecord | undefined> {
    return this.#do(() => {
      const rows = this.sql.all(
        "SELECT * FROM delivery_status WHERE message_id = ? AND expires_at > ? ORDER BY address",
        id,
        Date.now(),
      );
      if (rows.length === 0) return undefined;
      return {
        id,
        owner: text(rows[0], "owner"),
        createdAt: int(rows[0], "created_at"),
        recipients: rows.map((row) => {
          const detail = row.detail;
          return {
            address: text(row, "address"),
            state: text(row, "state") as DeliveryState,
            ...(typeof detail === "string" ? { detail } : {}),
            updatedAt: int(row, "updated_at"),
          };
        }),
      };
    });
  }

  #do<T>(fn: () => T): Promise<T> {
    try {
      if (!this.isOpen()) throw new StoreError("the store is closed", "unavailable");
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

function toToken(row: Row): ApiTokenRecord {
  return {
    id: text(row, "id"),
    address: text(row, "address"),
    hash: blob(row, "hash"),
    createdAt: int(row, "created_at"),
  };
}
