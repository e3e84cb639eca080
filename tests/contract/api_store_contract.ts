/**
 * The contract of the HTTP API's store ports, for every backend: ApiTokenStore (tokens by id,
 * by user, revocation, gone with their user where the backend cascades) and
 * DeliveryStatusStore (tracked messages, updates only of what is tracked, expiry).
 */
import assert from "node:assert/strict";
import type { ApiTokenStore } from "../../src/store/api_tokens.ts";
import type { DeliveryStatusStore } from "../../src/store/delivery_status.ts";
import { type MailStore, StoreError } from "../../src/store/mail_store.ts";
import { newToken, verifyToken } from "../../src/http/api_token.ts";

/** A fresh store of the backend, its API ports, and how to get rid of it. */
export interface ApiStoreFixture {
  store: MailStore;
  tokens: ApiTokenStore;
  statuses: DeliveryStatusStore;
  cleanup(): Promise<void>;
}

const ALICE = "alice@example.org";
const BOB = "bob@example.org";

/** Registers the contract's tests for `name`. */
export function apiStoreContract(name: string, open: () => Promise<ApiStoreFixture>): void {
  Deno.test(`api store contract (${name})`, async (t) => {
    const f = await open();
    try {
      for (const address of [ALICE, BOB]) {
        await f.store.createUser({ address, keys: new Uint8Array([1]), createdAt: 1 });
      }

      await t.step("a token is found by id and verified; a wrong secret is not", async () => {
        const made = await newToken(ALICE, 1000);
        await f.tokens.addToken(made.record);
        const found = await f.tokens.getToken(made.record.id);
        assert.deepEqual(found, made.record);
        assert.deepEqual(await verifyToken(f.tokens, made.token), made.record);
        const wrong = made.token.slice(0, -1) + (made.token.endsWith("A") ? "B" : "A");
        assert.equal(await verifyToken(f.tokens, wrong), undefined);
        assert.equal(await verifyToken(f.tokens, "fsmtp_nothing"), undefined);
      });

      await t.step("an id in use is refused; a token for no user is refused", async () => {
        const made = await newToken(ALICE, 2000);
        await f.tokens.addToken(made.record);
        await assert.rejects(
          f.tokens.addToken({ ...made.record, address: BOB }),
          (err: unknown) => err instanceof StoreError && err.code === "exists",
        );
        const stranger = await newToken("nobody@example.org");
        await assert.rejects(
          f.tokens.addToken(stranger.record),
          (err: unknown) => err instanceof StoreError && err.code === "not-found",
        );
      });

      await t.step("tokens are listed per user, oldest first, and revoked", async () => {
        const bobs = await newToken(BOB, 500);
        await f.tokens.addToken(bobs.record);
        const alices = await f.tokens.listTokens(ALICE);
        assert.deepEqual(alices.map((x) => x.createdAt), [1000, 2000]);
        assert.deepEqual((await f.tokens.listTokens(BOB)).map((x) => x.id), [bobs.record.id]);
        assert.equal(await f.tokens.revokeToken(BOB, alices[0].id), false, "not Bob's token");
        assert.equal(await f.tokens.revokeToken(ALICE, alices[0].id), true);
        assert.equal(await f.tokens.revokeToken(ALICE, alices[0].id), false, "revoked already");
        assert.equal(await f.tokens.getToken(alices[0].id), undefined);
        assert.deepEqual((await f.tokens.listTokens(ALICE)).map((x) => x.id), [alices[1].id]);
      });

      await t.step("a tracked message's recipients change; untracked ones do not", async () => {
        const now = Date.now();
        await f.statuses.trackMessage({
          id: "MSG1",
          owner: ALICE,
          createdAt: now,
          recipients: [
            { address: "a@remote.example", state: "queued", updatedAt: now },
            { address: "b@remote.example", state: "queued", updatedAt: now },
          ],
        }, 60_000);
        await f.statuses.updateRecipients("MSG1", [
          {
            address: "a@remote.example",
            state: "deferred",
            detail: "451 later",
            updatedAt: now + 1,
          },
          { address: "z@remote.example", state: "delivered", updatedAt: now + 1 },
        ]);
        await f.statuses.updateRecipients("NOT-TRACKED", [
          { address: "a@remote.example", state: "delivered", updatedAt: now + 1 },
        ]);
        assert.equal(await f.statuses.getStatus("NOT-TRACKED"), undefined);
        const status = await f.statuses.getStatus("MSG1");
        assert.equal(status?.owner, ALICE);
        assert.equal(status?.createdAt, now);
        assert.deepEqual(status?.recipients, [
          {
            address: "a@remote.example",
            state: "deferred",
            detail: "451 later",
            updatedAt: now + 1,
          },
          { address: "b@remote.example", state: "queued", updatedAt: now },
        ]);
        await f.statuses.updateRecipients("MSG1", [
          { address: "a@remote.example", state: "delivered", detail: "250 ok", updatedAt: now + 2 },
        ]);
        assert.equal((await f.statuses.getStatus("MSG1"))?.recipients[0].state, "delivered");
      });

      await t.step("a status is gone once its retention has passed", async () => {
        const now = Date.now();
        await f.statuses.trackMessage({
          id: "SHORT",
          owner: BOB,
          createdAt: now,
          recipients: [{ address: "c@remote.example", state: "queued", updatedAt: now }],
        }, 1000);
        assert.ok(await f.statuses.getStatus("SHORT"));
        const deadline = Date.now() + 10_000;
        while (await f.statuses.getStatus("SHORT")) {
          assert.ok(Date.now() < deadline, "the status outlived its retention by 9 s");
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(await f.statuses.getStatus("MSG1"), "the longer-lived one stays");
      });
    } finally {
      await f.cleanup();
    }
  });
}
