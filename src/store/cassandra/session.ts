/**
 * The Cassandra connection the store works through: one driver client, every statement
 * prepared (the driver caches each prepared query by its text), the configured consistency on
 * every request and the matching serial consistency on lightweight transactions (LWTs), and
 * the driver's errors turned into the port's `StoreError("unavailable")` where retrying later
 * is the answer (Unavailable, read/write timeouts, no host reachable).
 */
import { Buffer } from "node:buffer";
import cassandra from "cassandra-driver";
import { StoreError } from "../mail_store.ts";

/** A CQL consistency level by its name in the config (`[cassandra] consistency`). */
export type ConsistencyName =
  | "ANY"
  | "ONE"
  | "TWO"
  | "THREE"
  | "QUORUM"
  | "ALL"
  | "LOCAL_QUORUM"
  | "EACH_QUORUM"
  | "LOCAL_ONE";

/** The names `[cassandra] consistency` accepts. */
export const CONSISTENCY_NAMES: readonly ConsistencyName[] = [
  "ANY",
  "ONE",
  "TWO",
  "THREE",
  "QUORUM",
  "ALL",
  "LOCAL_QUORUM",
  "EACH_QUORUM",
  "LOCAL_ONE",
];

/** How to reach the cluster: the `[cassandra]` section. */
export interface CassandraOptions {
  /** "host" or "host:port" (port 9042 when absent). */
  contactPoints: string[];
  /** The data centre whose nodes are asked first (the driver requires it). */
  localDc: string;
  keyspace: string;
  /** Replicas per data centre, used only when the keyspace is created. */
  replicationFactor: number;
  /** LOCAL_QUORUM by default: a majority of the local replicas, surviving one node down. */
  consistency: ConsistencyName;
  user?: string;
  password?: string;
  /** Speak TLS to the nodes; `tlsCa` is a PEM file of the CA to trust beside the system's. */
  tls?: boolean;
  tlsCa?: string;
}

/** One row as the driver returns it. */
export type Row = cassandra.types.Row;

/** A bound value. */
export type Param = string | number | boolean | Uint8Array | null | string[];

/** The result of an LWT: whether it applied, and the row as it was when it did not. */
export interface Cas {
  applied: boolean;
  row?: Row;
}

/** Most CQL statements one batch holds; a logged batch of more is refused by the server. */
const MAX_BATCH = 100;

/** The driver client with the store's defaults. */
export class CqlSession {
  readonly client: cassandra.Client;
  readonly #consistency: number;
  readonly #serial: number;

  constructor(readonly options: CassandraOptions, keyspace?: string) {
    const consistencies = cassandra.types.consistencies;
    this.#consistency = consistencies[camel(options.consistency)];
    // LOCAL_SERIAL keeps Paxos inside the local data centre, like LOCAL_QUORUM; a cluster-wide
    // consistency asks for the cluster-wide SERIAL.
    this.#serial = options.consistency.startsWith("LOCAL_")
      ? consistencies.localSerial
      : consistencies.serial;
    const points = options.contactPoints.map(splitPoint);
    this.client = new cassandra.Client({
      contactPoints: points.map((p) => p.host),
      localDataCenter: options.localDc,
      keyspace,
      protocolOptions: { port: points[0]?.port ?? 9042 },
      credentials: options.user
        ? { username: options.user, password: options.password ?? "" }
        : undefined,
      sslOptions: options.tls
        ? { ...(options.tlsCa ? { ca: [Deno.readTextFileSync(options.tlsCa)] } : {}) }
        : undefined,
      queryOptions: {
        prepare: true,
        consistency: this.#consistency,
        serialConsistency: this.#serial,
      },
      socketOptions: { connectTimeout: 5_000, readTimeout: 12_000 },
    });
  }

  /** Connects; "unavailable" when no contact point answers. */
  async connect(): Promise<void> {
    try {
      await this.client.connect();
    } catch (err) {
      throw storeError(err);
    }
  }

  /**
   * Runs one prepared statement at the configured consistency and returns every row, page by
   * page, so a large read (a whole bucket of a big mailbox) never comes as one giant response.
   */
  async rows(query: string, params: Param[] = []): Promise<Row[]> {
    let result = await this.#execute(query, params);
    const rows = [...result.rows];
    while (result.pageState) {
      result = await this.#execute(query, params, result.pageState);
      rows.push(...result.rows);
    }
    return rows;
  }

  /** The first row, or undefined. */
  async row(query: string, params: Param[] = []): Promise<Row | undefined> {
    return (await this.#execute(query, params)).first() ?? undefined;
  }

  /** A write (or DDL) at the configured consistency. */
  async run(query: string, params: Param[] = []): Promise<void> {
    await this.#execute(query, params);
  }

  /** An LWT (`IF …`): whether it applied, with the current row when it did not. */
  async cas(query: string, params: Param[] = []): Promise<Cas> {
    const result = await this.#execute(query, params);
    const row = result.first();
    const applied = row ? row.get("[applied]") === true : false;
    return applied ? { applied } : { applied, row: row ?? undefined };
  }

  /** A read at SERIAL / LOCAL_SERIAL: sees every LWT committed or in progress. */
  async serialRow(query: string, params: Param[] = []): Promise<Row | undefined> {
    try {
      const result = await this.client.execute(query, bind(params), {
        prepare: true,
        consistency: this.#serial,
      });
      return result.first() ?? undefined;
    } catch (err) {
      throw storeError(err);
    }
  }

  /**
   * Writes in logged batches of at most {@link MAX_BATCH}: each batch is applied whole or,
   * after a failure, replayed by the coordinator's batch log, so its rows stand together.
   */
  async batch(queries: { query: string; params: Param[] }[]): Promise<void> {
    for (let i = 0; i < queries.length; i += MAX_BATCH) {
      try {
        await this.client.batch(queries.slice(i, i + MAX_BATCH).map(bound), { prepare: true });
      } catch (err) {
        throw storeError(err);
      }
    }
  }

  /** A conditional batch (all statements on one partition): applied whole or not at all. */
  async casBatch(queries: { query: string; params: Param[] }[]): Promise<boolean> {
    try {
      const result = await this.client.batch(queries.map(bound), { prepare: true });
      return result.first()?.get("[applied]") === true;
    } catch (err) {
      throw storeError(err);
    }
  }

  async close(): Promise<void> {
    await this.client.shutdown();
  }

  async #execute(
    query: string,
    params: Param[],
    pageState?: string,
  ): Promise<cassandra.types.ResultSet> {
    try {
      return await this.client.execute(query, bind(params), { prepare: true, pageState });
    } catch (err) {
      throw storeError(err);
    }
  }
}

/** The driver takes blobs only as Buffers; a Buffer over the same memory costs no copy. */
function bind(params: Param[]): unknown[] {
  return params.map((p) =>
    p instanceof Uint8Array && !Buffer.isBuffer(p)
      ? Buffer.from(p.buffer, p.byteOffset, p.byteLength)
      : p
  );
}

function bound(q: { query: string; params: Param[] }): { query: string; params: unknown[] } {
  return { query: q.query, params: bind(q.params) };
}

/** "host:port" / "[v6]:port" / "host" → host and port. */
export function splitPoint(point: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(point.trim());
  if (!m) throw new StoreError(`invalid contact point ${JSON.stringify(point)}`, "invalid");
  return { host: m[1] ?? m[2], port: m[3] ? Number(m[3]) : 9042 };
}

/** The driver's key for a consistency name: LOCAL_QUORUM → localQuorum. */
function camel(name: ConsistencyName): keyof typeof cassandra.types.consistencies {
  const [first, ...rest] = name.toLowerCase().split("_");
  return (first +
    rest.map((w) => w[0].toUpperCase() + w.slice(1)).join(
      "",
    )) as keyof typeof cassandra.types.consistencies;
}

/** Response codes after which the same request may succeed later (CQL protocol v4 §9). */
const RETRYABLE_CODES = new Set([
  0x1000, // Unavailable: too few replicas alive for the consistency level
  0x1001, // Overloaded
  0x1002, // Is_bootstrapping
  0x1100, // Write_timeout (for an LWT: the outcome is unknown; the caller retries)
  0x1200, // Read_timeout
  0x1300, // Read_failure
  0x1500, // Write_failure
]);

/** The driver's error as the port's: retryable ones are "unavailable", others unchanged. */
export function storeError(err: unknown): unknown {
  if (err instanceof StoreError) return err;
  const e = cassandra.errors;
  if (
    err instanceof e.NoHostAvailableError || err instanceof e.OperationTimedOutError ||
    err instanceof e.BusyConnectionError ||
    (err instanceof e.ResponseError && RETRYABLE_CODES.has(err.code))
  ) {
    return new StoreError(`Cassandra is unavailable: ${(err as Error).message}`, "unavailable");
  }
  return err;
}

/** A bigint/int/counter column as a number (UIDs, modseqs and times fit in 2^53). */
export function num(row: Row, column: string): number {
  const v: unknown = row.get(column);
  if (typeof v === "number") return v;
  if (v instanceof cassandra.types.Long) return v.toNumber();
  if (typeof v === "bigint") return Number(v);
  throw new TypeError(`column ${column} is ${v === null ? "null" : typeof v}, not a number`);
}

/** A number column that may be null. */
export function optNum(row: Row, column: string): number | undefined {
  return row.get(column) === null || row.get(column) === undefined ? undefined : num(row, column);
}

/** A text column. */
export function str(row: Row, column: string): string {
  const v: unknown = row.get(column);
  if (typeof v === "string") return v;
  throw new TypeError(`column ${column} is ${v === null ? "null" : typeof v}, not text`);
}

/** A text column that may be null. */
export function optStr(row: Row, column: string): string | undefined {
  const v: unknown = row.get(column);
  return typeof v === "string" ? v : undefined;
}

/** A blob column as a plain Uint8Array (the driver gives a Buffer, which deepEqual tells apart). */
export function bytes(row: Row, column: string): Uint8Array {
  const v: unknown = row.get(column);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  throw new TypeError(`column ${column} is ${v === null ? "null" : typeof v}, not a blob`);
}

/** A blob column that may be null. */
export function optBytes(row: Row, column: string): Uint8Array | undefined {
  const v: unknown = row.get(column);
  return v instanceof Uint8Array ? new Uint8Array(v) : undefined;
}
