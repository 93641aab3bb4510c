/**
 * Request body decoding (`Content-Encoding: zstd | gzip | deflate`) with a
 * hard cap on the decoded size, so a small compressed bomb cannot make the
 * gateway allocate gigabytes. Node 20 has no zstd: fzstd (pure JS, streaming)
 * decodes it; zlib's maxOutputLength caps gzip and deflate.
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { DomainError } from "@codex-pooler/core";
import { Decompress } from "fzstd";

export interface DecodeLimits {
  /** Largest decoded body in bytes. */
  maxDecodedBytes: number;
}

class TooLarge extends Error {}

function zstd(input: Buffer, max: number): Buffer {
  const parts: Uint8Array[] = [];
  let size = 0;
  const stream = new Decompress((chunk) => {
    size += chunk.byteLength;
    if (size > max) throw new TooLarge();
    // fzstd may reuse its window buffer: copy each chunk out.
    parts.push(chunk.slice());
  });
  stream.push(input, true);
  return Buffer.concat(parts, size);
}

function zlibError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "ERR_BUFFER_TOO_LARGE" || (err as Error).message?.includes("Cannot create a Buffer larger");
}

/**
 * Example: `decodeBody(zstdBytes, "zstd", { maxDecodedBytes: 64 << 20 })` → the JSON bytes.
 * Throws DomainError `body_too_large` (413), `invalid_compressed_body` (400) or
 * `unsupported_content_encoding` (415).
 */
export function decodeBody(body: Buffer, contentEncoding: string | undefined, limits: DecodeLimits): Buffer {
  const encoding = (contentEncoding ?? "").trim().toLowerCase();
  if (encoding === "" || encoding === "identity") {
    if (body.byteLength > limits.maxDecodedBytes) throw new DomainError("body_too_large");
    return body;
  }
  try {
    switch (encoding) {
      case "zstd":
        return zstd(body, limits.maxDecodedBytes);
      case "gzip":
      case "x-gzip":
        return gunzipSync(body, { maxOutputLength: limits.maxDecodedBytes });
      case "deflate":
        return inflateSync(body, { maxOutputLength: limits.maxDecodedBytes });
      default:
        throw new DomainError("unsupported_content_encoding");
    }
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (err instanceof TooLarge || zlibError(err) || (err as { code?: string }).code === "ERR_OUT_OF_RANGE") {
      throw new DomainError("body_too_large", { message: "The decompressed request body is too large." });
    }
    throw new DomainError("invalid_compressed_body", { cause: err });
  }
}
