import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { decompress as zstdDecompress } from "fzstd";

/**
 * Request bodies arrive as sent: the ChatGPT-mode CLI compresses them with zstd (spec §1.1); gzip and
 * deflate are accepted too. Node 20 has no zstd, hence fzstd.
 */
export function decodeBody(raw: Buffer, encoding: string | undefined): Buffer {
  if (!encoding || encoding === "identity") return raw;
  let out = raw;
  // Encodings apply in the listed order, so undo them from last to first.
  const layers = encoding
    .split(",")
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e.length > 0 && e !== "identity");
  for (let i = layers.length - 1; i >= 0; i--) {
    switch (layers[i]) {
      case "zstd":
        out = Buffer.from(zstdDecompress(out));
        break;
      case "gzip":
      case "x-gzip":
        out = gunzipSync(out);
        break;
      case "deflate":
        out = inflateSync(out);
        break;
      case "br":
        out = brotliDecompressSync(out);
        break;
      default:
        throw new UnsupportedEncodingError(layers[i] ?? "");
    }
  }
  return out;
}

export class UnsupportedEncodingError extends Error {
  constructor(readonly encoding: string) {
    super(`Unsupported content-encoding: ${encoding}`);
  }
}

/** Parses `application/x-www-form-urlencoded` or JSON (by content type, falling back to sniffing). */
export function parseFormOrJson(
  raw: Buffer,
  contentType: string | undefined,
): Record<string, unknown> | undefined {
  const text = raw.toString("utf8");
  const looksJson = contentType?.includes("json") || text.trimStart().startsWith("{");
  if (looksJson) {
    try {
      const v: unknown = JSON.parse(text);
      return v !== null && typeof v === "object" && !Array.isArray(v)
        ? (v as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}
