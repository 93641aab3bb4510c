import type { AccountRow, GatewayRepository, Snapshot } from "@codex-pooler/db";
import { describe, expect, it } from "vitest";
import { Registry } from "./registry.ts";

const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent } as never;

function account(id: string, status: AccountRow["status"] = "active"): AccountRow {
  return {
    id,
    chatgptAccountId: id,
    status,
    planType: "plus",
    label: null,
    accessTokenExpiresAt: null,
    credentialGeneration: 1,
    sealed: {
      accessCiphertext: Buffer.alloc(0),
      accessNonce: Buffer.alloc(0),
      refreshCiphertext: Buffer.alloc(0),
      refreshNonce: Buffer.alloc(0),
      keyVersion: 1,
    },
  };
}

/** A registry over a fixed snapshot (the repository is a fake: only loadSnapshot is used). */
async function registryOf(snapshot: Omit<Snapshot, "pools" | "assignments" | "quota">, ids: string[]) {
  const repo = {
    loadSnapshot: async (): Promise<Snapshot> => ({
      pools: [
        {
          id: "pool_1",
          name: "p",
          status: "active",
          routingStrategy: "quota_first",
          ringSize: 3,
          pinnedFailover: "move",
          v1Enabled: true,
        },
      ],
      assignments: ids.map((accountId) => ({ poolId: "pool_1", accountId, status: "active" as const })),
      quota: [],
      ...snapshot,
    }),
  } as unknown as GatewayRepository;
  const registry = new Registry(repo, { now: () => 0 }, silent);
  await registry.reload();
  return registry;
}

describe("Registry.servesModel", () => {
  it("agrees with the pool catalog: listed models only, once some active account reported one", async () => {
    const registry = await registryOf(
      {
        accounts: [account("acct_a"), account("acct_b"), account("acct_c", "disabled")],
        models: [
          { accountId: "acct_a", slug: "gpt-5.4", info: {} },
          { accountId: "acct_c", slug: "gpt-5.9-only-on-a-disabled-account", info: {} },
        ],
      },
      ["acct_a", "acct_b", "acct_c"],
    );
    const catalog = registry.catalog("pool_1");
    for (const model of ["gpt-5.4", "gpt-5.9-only-on-a-disabled-account", "nope"]) {
      expect(registry.servesModel("pool_1", model)).toBe(catalog.has(model));
    }
    expect(registry.servesModel("pool_1", "gpt-5.4")).toBe(true);
    expect(registry.servesModel("pool_1", "nope")).toBe(false);
  });

  it("lets every model through while no account has reported a catalog", async () => {
    const registry = await registryOf({ accounts: [account("acct_a")], models: [] }, ["acct_a"]);
    expect(registry.catalog("pool_1").size).toBe(0);
    expect(registry.servesModel("pool_1", "anything")).toBe(true);
  });

  it("routes with the reported model slugs", async () => {
    const registry = await registryOf(
      {
        accounts: [account("acct_a"), account("acct_b")],
        models: [{ accountId: "acct_a", slug: "m1", info: {} }],
      },
      ["acct_a", "acct_b"],
    );
    const views = registry.views("pool_1");
    expect(views.find((v) => v.id === "acct_a")?.models?.has("m1")).toBe(true);
    expect(views.find((v) => v.id === "acct_b")?.models).toBeNull();
  });
});

describe("Registry quota evidence", () => {
  const window = (usedPercent: number) => ({
    limitId: "codex",
    kind: "primary" as const,
    usedPercent,
    windowMinutes: 300,
    resetAt: 1_000_000,
  });

  it("routes on the newest figures and keeps its window list while they repeat", async () => {
    const registry = await registryOf({ accounts: [account("acct_a")], models: [] }, ["acct_a"]);
    const observe = (usedPercent: number, observedAt: number) =>
      registry.observeQuota("acct_a", { windows: [window(usedPercent)], source: "headers", observedAt });

    observe(10, 1);
    const first = registry.views("pool_1")[0]!.quota;
    expect(first.map((w) => w.usedPercent)).toEqual([10]);

    observe(10, 2);
    expect(registry.views("pool_1")[0]!.quota).toBe(first);

    observe(100, 3);
    expect(registry.views("pool_1")[0]!.quota.map((w) => w.usedPercent)).toEqual([100]);
    await registry.stop();
  });
});
