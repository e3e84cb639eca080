/**
 * The HTTP API's stores on SQLite: the shared contract on a temporary file, and what only
 * SQLite has — a user's tokens go with the user (ON DELETE CASCADE).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { newToken } from "../../src/http/api_token.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";
import { apiStoreContract } from "./api_store_contract.ts";

async function tempStore(): Promise<{ store: SqliteMailStore; cleanup(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-api-" });
  const store = SqliteMailStore.open(join(dir, "fsmtp.db"));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

apiStoreContract("sqlite", async () => {
  const { store, cleanup } = await tempStore();
  return { store, tokens: store.apiTokens, statuses: store.deliveryStatus, cleanup };
});

Deno.test("sqlite api store: deleting a user deletes their tokens", async () => {
  const { store, cleanup } = await tempStore();
  try {
    await store.createUser({
      address: "carol@example.org",
      keys: new Uint8Array([1]),
      createdAt: 1,
    });
    const made = await newToken("carol@example.org");
    await store.apiTokens.addToken(made.record);
    await store.deleteUser("carol@example.org");
    assert.equal(await store.apiTokens.getToken(made.record.id), undefined);
  } finally {
    await cleanup();
  }
});
