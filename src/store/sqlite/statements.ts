/** Prepared statements of one SQLite connection, each prepared once and reused. */
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import type { Row } from "./rows.ts";

/** Runs SQL through a per-connection cache of prepared statements. */
export class Statements {
  #cache = new Map<string, StatementSync>();

  constructor(readonly db: DatabaseSync) {}

  /** The first row, if any. */
  get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#prepared(sql).get(...params);
  }

  /** The row of a statement that always yields one (INSERT … RETURNING). */
  one(sql: string, ...params: SQLInputValue[]): Row {
    const row = this.get(sql, ...params);
    if (!row) throw new Error(`no row from: ${sql}`);
    return row;
  }

  /** Every row. */
  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#prepared(sql).all(...params);
  }

  /** Runs a statement; returns the number of rows it changed. */
  run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#prepared(sql).run(...params).changes);
  }

  /**
   * Runs `fn` in one write transaction, rolled back on any error. IMMEDIATE takes the write lock
   * up front, so the transaction cannot fail half-way with SQLITE_BUSY when it upgrades from
   * reading to writing.
   */
  transaction<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw err;
    }
  }

  /** Forgets the prepared statements (before the connection closes). */
  clear(): void {
    this.#cache.clear();
  }

  #prepared(sql: string): StatementSync {
    let statement = this.#cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#cache.set(sql, statement);
    }
    return statement;
  }
}
