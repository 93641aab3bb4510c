import { afterEach, describe, expect, it, vi } from "vitest";
import { awsClientConfig } from "./aws.ts";

afterEach(() => {
  vi.unstubAllEnvs();
});

async function resolveCredentials(config: ReturnType<typeof awsClientConfig>) {
  const c = config.credentials;
  return typeof c === "function" ? c() : c;
}

describe("awsClientConfig", () => {
  it("leaves AWS itself to the SDK's default chain", () => {
    expect(awsClientConfig({ region: "eu-west-1" })).toEqual({ region: "eu-west-1" });
  });

  it("gives an emulator the dummy credentials when the environment has none", async () => {
    vi.stubEnv("AWS_ACCESS_KEY_ID", "");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "");
    const config = awsClientConfig({ endpointUrl: "http://127.0.0.1:4566", region: "us-east-1" });
    expect(config.endpoint).toBe("http://127.0.0.1:4566");
    expect(await resolveCredentials(config)).toEqual({ accessKeyId: "test", secretAccessKey: "test" });
  });

  it("prefers AWS_* credentials from the environment with an endpoint", async () => {
    vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "example-secret");
    const config = awsClientConfig({ endpointUrl: "http://127.0.0.1:4566", region: "us-east-1" });
    expect(await resolveCredentials(config)).toMatchObject({ accessKeyId: "AKIDEXAMPLE" });
  });

  it("uses explicit credentials as given", async () => {
    const credentials = { accessKeyId: "a", secretAccessKey: "b" };
    expect(awsClientConfig({ region: "us-east-1", credentials }).credentials).toBe(credentials);
  });
});
