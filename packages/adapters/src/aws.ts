import { fromEnv } from "@aws-sdk/credential-provider-env";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@aws-sdk/types";

export interface AwsTarget {
  /** An emulator (LocalStack, moto) or a private endpoint; undefined for AWS itself. */
  endpointUrl?: string | undefined;
  region: string;
  /** Explicit credentials; default: the SDK's chain, or see `awsClientConfig`. */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined;
}

/** What emulators accept; LocalStack maps the access key "test" to account 000000000000. */
const EMULATOR_CREDENTIALS: AwsCredentialIdentity = Object.freeze({
  accessKeyId: "test",
  secretAccessKey: "test",
});

/**
 * Options for an AWS SDK v3 client (SQSClient, SecretsManagerClient, …).
 * With an endpoint URL, credentials come from the AWS_* environment variables
 * if present, else the emulator's dummy pair — never from the instance
 * metadata service, which a laptop or CI box does not have (and probing it
 * stalls start-up). Without one, the SDK's default chain applies.
 *
 * Example: `new SQSClient(awsClientConfig({ endpointUrl: "http://127.0.0.1:4566", region: "us-east-1" }))`
 */
export function awsClientConfig(target: AwsTarget): {
  region: string;
  endpoint?: string;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
} {
  const out: ReturnType<typeof awsClientConfig> = { region: target.region };
  if (target.endpointUrl) out.endpoint = target.endpointUrl;
  if (target.credentials) {
    out.credentials = target.credentials;
  } else if (target.endpointUrl) {
    const envProvider = fromEnv();
    out.credentials = async () => {
      try {
        return await envProvider();
      } catch {
        return EMULATOR_CREDENTIALS;
      }
    };
  }
  return out;
}
