import { describe, expect, it } from "vitest";
import { type AbortLike, RequestAbort } from "./abort.ts";

describe("RequestAbort", () => {
  it("calls each listener once, in order, and records the abort", () => {
    const a = new RequestAbort();
    const calls: string[] = [];
    const one = () => calls.push("one");
    const two = () => calls.push("two");
    a.addEventListener("abort", one);
    a.addEventListener("abort", two);
    a.addEventListener("abort", one); // the same listener again: still once, as with EventTarget
    expect(a.aborted).toBe(false);
    const reason = new Error("client left");
    a.abort(reason);
    a.abort(new Error("again"));
    expect(calls).toEqual(["one", "two"]);
    expect(a.aborted).toBe(true);
    expect(a.reason).toBe(reason);
  });

  it("does not call a removed listener, nor one added after the abort", () => {
    const a = new RequestAbort();
    const calls: string[] = [];
    const removed = () => calls.push("removed");
    a.addEventListener("abort", removed);
    a.removeEventListener("abort", removed);
    a.removeEventListener("abort", () => {}); // unknown: no effect
    a.abort();
    a.addEventListener("abort", () => calls.push("late"));
    expect(calls).toEqual([]);
    expect(a.reason).toBeUndefined();
  });

  it("lets code written against AbortLike take an AbortSignal as well", () => {
    const watch = (s: AbortLike) => {
      const seen: boolean[] = [];
      s.addEventListener("abort", () => seen.push(s.aborted), { once: true });
      return seen;
    };
    const controller = new AbortController();
    const ours = new RequestAbort();
    const fromSignal = watch(controller.signal);
    const fromOurs = watch(ours);
    controller.abort();
    ours.abort();
    expect(fromSignal).toEqual([true]);
    expect(fromOurs).toEqual([true]);
  });
});
