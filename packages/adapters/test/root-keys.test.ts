// loadRootKeys' Secrets Manager path, against this run's emulator through the real SDK.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsTestTarget } from "../../../tests/support/aws.ts";
import { provisionAws } from "../src/provision.ts";
import { loadRootKeys, RootKeysError } from "../src/root-keys.ts";

let sm: SecretsManagerClient;
let dataDir: string;
beforeAll(async () => {
  sm = new SecretsManagerClient(awsTestTarget());
  dataDir = await mkdtemp(join(tmpdir(), "root-keys-sm-"));
});
afterAll(async () => {
  sm.destroy();
  await rm(dataDir, { recursive: true, force: true });
});

const config = (secretId: string) => ({ rootKeys: { upstream: undefined, totp: undefined, secretId } });

async function createSecret(value: string): Promise<string> {
  const name = `codex-pooler-test/${randomUUID()}`;
  await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return name;
}

describe("loadRootKeys from Secrets Manager", () => {
  it("reads the secret that provisioning created, and writes no local key file", async () => {
    const secretId = `codex-pooler-test/${randomUUID()}/root-keys`;
    const { secretCreated } = await provisionAws({
      region: awsTestTarget().region,
      queues: [],
      secretId,
      secretsManager: sm,
    });
    expect(secretCreated).toBe(true);
    const keys = await loadRootKeys({ config: config(secretId), dataDir, secretsManager: sm });
    expect(keys.source).toBe("secrets-manager");
    expect(keys.upstream.key).toHaveLength(32);
    expect(keys.totp.key).toHaveLength(32);
    expect(keys.upstream).toMatchObject({ version: 1 });

    const raw = await sm.send(new GetSecretValueCommand({ SecretId: secretId }));
    const doc = JSON.parse(raw.SecretString ?? "{}");
    expect(Buffer.from(doc.upstream_secret_key, "base64").equals(keys.upstream.key)).toBe(true);
    expect(Buffer.from(doc.totp_encryption_key, "base64").equals(keys.totp.key)).toBe(true);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it("takes the versions from the secret", async () => {
    const secretId = await createSecret(
      JSON.stringify({
        upstream_secret_key: randomBytes(32).toString("base64"),
        upstream_secret_key_version: 7,
        totp_encryption_key: randomBytes(32).toString("base64"),
        totp_key_version: 2,
      }),
    );
    const keys = await loadRootKeys({ config: config(secretId), dataDir, secretsManager: sm });
    expect([keys.upstream.version, keys.totp.version]).toEqual([7, 2]);
  });

  it("names the secret and the field of an invalid key, never the value", async () => {
    const bad = randomBytes(31).toString("base64");
    const secretId = await createSecret(
      JSON.stringify({
        upstream_secret_key: bad,
        upstream_secret_key_version: 1,
        totp_encryption_key: randomBytes(32).toString("base64"),
        totp_key_version: 1,
      }),
    );
    const err = await loadRootKeys({ config: config(secretId), dataDir, secretsManager: sm }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RootKeysError);
    expect(err).toMatchObject({ code: "root_keys_invalid" });
    const message = (err as Error).message;
    expect(message).toContain(`Secrets Manager secret "${secretId}"`);
    expect(message).toContain('"upstream_secret_key"');
    expect(message).not.toContain(bad);
  });

  it("reports a secret that is not JSON without echoing it", async () => {
    const secretId = await createSecret("plain-text-secret-value");
    const err = await loadRootKeys({ config: config(secretId), dataDir, secretsManager: sm }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "root_keys_invalid" });
    expect((err as Error).message).toContain("is not valid JSON");
    expect((err as Error).message).not.toContain("plain-text-secret-value");
  });

  it("reports a missing secret by name", async () => {
    const secretId = `codex-pooler-test/${randomUUID()}/missing`;
    const err = await loadRootKeys({ config: config(secretId), dataDir, secretsManager: sm }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "root_keys_secret_unavailable" });
    expect((err as Error).message).toContain(`"${secretId}" could not be read (ResourceNotFoundException)`);
  });
});
