import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  errorResponse,
  frontendType,
  ReadyForQueryScanner,
  readyForQuery,
  SYNC_MESSAGE,
  type TxStatus,
} from "./wire.ts";

function message(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

const status = fc.constantFrom<TxStatus>("I", "T", "E");
const backendMessage = fc.oneof(
  status.map((s) => ({ bytes: readyForQuery(s), ready: s as TxStatus | undefined })),
  fc
    .tuple(fc.constantFrom("C", "D", "T", "1", "2", "n", "S", "K", "N"), fc.uint8Array({ maxLength: 40 }))
    // Bodies full of 'Z' bytes make sure only message boundaries count.
    .map(([type, body]) => ({
      bytes: message(
        type,
        body.map((b) => (b % 3 === 0 ? 0x5a : b)),
      ),
      ready: undefined,
    })),
);

describe("ReadyForQueryScanner", () => {
  it("finds every ReadyForQuery and its status however the stream is chunked", () => {
    fc.assert(
      fc.property(
        fc.array(backendMessage, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (msgs, cuts) => {
          const stream = Buffer.concat(msgs.map((m) => m.bytes));
          const points = [...new Set(cuts.map((c) => (stream.length ? c % stream.length : 0)))].sort(
            (a, b) => a - b,
          );
          const scanner = new ReadyForQueryScanner();
          let from = 0;
          for (const p of [...points, stream.length]) {
            scanner.push(stream.subarray(from, p));
            from = p;
          }
          const readies = msgs.flatMap((m) => (m.ready ? [m.ready] : []));
          expect(scanner.readyCount).toBe(readies.length);
          expect(scanner.lastStatus).toBe(readies.at(-1) ?? "I");
          expect(scanner.atBoundary).toBe(true);
        },
      ),
    );
  });

  it("reports a boundary only between whole messages", () => {
    const scanner = new ReadyForQueryScanner();
    const z = readyForQuery("T");
    scanner.push(z.subarray(0, 3));
    expect(scanner.atBoundary).toBe(false);
    expect(scanner.readyCount).toBe(0);
    scanner.push(z.subarray(3));
    expect(scanner.atBoundary).toBe(true);
    expect(scanner.lastStatus).toBe("T");
  });
});

describe("wire helpers", () => {
  it("tells the untyped startup message from typed ones", () => {
    const startup = new Uint8Array([0, 0, 0, 8, 0, 3, 0, 0]);
    expect(frontendType(startup)).toBe("startup");
    expect(frontendType(SYNC_MESSAGE)).toBe("S");
  });

  it("encodes an ErrorResponse with its fields", () => {
    const bytes = Buffer.from(
      errorResponse({ severity: "ERROR", code: "55P03", message: "busy", detail: "d" }),
    );
    expect(bytes[0]).toBe("E".charCodeAt(0));
    expect(bytes.readInt32BE(1)).toBe(bytes.length - 1);
    expect(bytes.subarray(5).toString("latin1")).toBe("SERROR\0VERROR\0C55P03\0Mbusy\0Dd\0\0");
  });
});
