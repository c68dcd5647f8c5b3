/**
 * The compression pool's schedule across requests (issue 11, adaptive sending), with a fake pool
 * whose preparations finish when the test says: at most `limit` at once, requests being sent
 * before the batches claimed ahead, parts decided by the policy, nothing lost or leaked.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { EncodeAhead } from "../../src/upload/encode_ahead.ts";

/**
 * A pool whose preparations finish one by one when `finish` is called, and a fake clock: the
 * grace is over as soon as a body asks to wait for it, unless `holdGrace` keeps the sleeps for
 * the test to end (`endGrace`).
 */
function fakePool(limit = 2, holdGrace = false) {
  const running: { item: string; resolve: (r: string) => void }[] = [];
  const started: string[] = [];
  const discarded: string[] = [];
  let clock = 0;
  const sleeps: { ms: number; resolve: () => void }[] = [];
  const ahead = new EncodeAhead<string, string>({
    now: () => clock,
    sleep: (ms) => {
      if (!holdGrace) return { done: Promise.resolve().then(() => void (clock += ms)), cancel() {} };
      let resolve!: () => void;
      const done = new Promise<void>((r) => resolve = r);
      sleeps.push({ ms, resolve });
      return { done, cancel() {} };
    },
    limit: () => limit,
    prepare: (item) =>
      new Promise<string>((resolve) => {
        started.push(item);
        running.push({ item, resolve });
      }),
    failed: (item) => `failed ${item}`,
    discard: (result) => void discarded.push(result),
  });
  return {
    ahead,
    running,
    started,
    discarded,
    /** The grace a waiting body sleeps ends now (the clock moves on by it). */
    async endGrace() {
      for (const sleep of sleeps.splice(0)) {
        clock += sleep.ms;
        sleep.resolve();
      }
      await flush();
    },
    /** Finishes the oldest preparation(s) and lets the schedule react. */
    async finish(n = 1) {
      for (let i = 0; i < n; i++) {
        const job = running.shift();
        job?.resolve(`encoded ${job.item}`);
      }
      await flush();
    },
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

Deno.test("encode ahead: at most `limit` at once; a request being sent goes before the look-ahead", async () => {
  const pool = fakePool(2);
  const ahead1 = pool.ahead.open(["a1", "a2", "a3"]);
  assertEquals(pool.started, ["a1", "a2"], "the look-ahead is worked on while nothing is sent");
  const sending = pool.ahead.open(["s1", "s2"]);
  sending.start();
  await pool.finish(1);
  assertEquals(pool.started, ["a1", "a2", "s1"], "the request being sent comes first");
  assertEquals(pool.ahead.running, 2);
  await pool.finish(2);
  assertEquals(pool.started, ["a1", "a2", "s1", "s2", "a3"]);
  ahead1.close();
  sending.close();
  await pool.finish(5);
});

Deno.test("encode ahead: a body takes finished parts first, not-started ones as received from the back, waits for one being encoded", async () => {
  const pool = fakePool(1);
  const lot = pool.ahead.open(["i1", "i2", "i3", "i4"]);
  lot.start();
  assertEquals(pool.started, ["i1"]);
  // Nothing finished: the last not-started one goes as received and is never encoded.
  assertEquals(await lot.next({ adaptive: true }), { item: "i4", index: 3, behind: true });
  await pool.finish(1);
  assertEquals(await lot.next({ adaptive: true }), { item: "i1", index: 0, result: "encoded i1" });
  assertEquals(pool.started, ["i1", "i2"]);
  assertEquals(await lot.next({ adaptive: true }), { item: "i3", index: 2, behind: true });
  // Only i2 is left, being encoded: waited for.
  let got: unknown = null;
  const waiting = lot.next({ adaptive: true }).then((part) => got = part);
  await flush();
  assertEquals(got, null, "still waiting for the encoder");
  await pool.finish(1);
  await waiting;
  assertEquals(got, { item: "i2", index: 1, result: "encoded i2" });
  assertEquals(await lot.next({ adaptive: true }), null, "every instance once");
  assertEquals(pool.started, ["i1", "i2"], "i3 and i4 were never encoded");
  assertEquals(pool.discarded, []);
  lot.close();
});

Deno.test("encode ahead: within the grace a body gets what the encoder finishes; after it, a not-started instance as received", async () => {
  const pool = fakePool(1, true);
  const lot = pool.ahead.open(["i1", "i2", "i3"]);
  lot.start();
  let got: unknown = null;
  let asked = lot.next({ adaptive: true }).then((part) => got = part);
  await flush();
  assertEquals(got, null, "waiting: the grace is not over");
  await pool.finish(1);
  await asked;
  assertEquals(got, { item: "i1", index: 0, result: "encoded i1" }, "finished within the grace");
  got = null;
  asked = lot.next({ adaptive: true }).then((part) => got = part);
  await flush();
  assertEquals(got, null);
  await pool.endGrace();
  await asked;
  assertEquals(got, { item: "i3", index: 2, behind: true }, "the grace is over: the encoder is behind");
  await pool.finish(1);
  assertEquals(await lot.next({ adaptive: true }), { item: "i2", index: 1, result: "encoded i2" });
  lot.close();
});

Deno.test("encode ahead: two bodies waiting out the grace at once — one instance as received, the other waits another grace", async () => {
  const pool = fakePool(1, true);
  const a = pool.ahead.open(["a1", "a2", "a3"]);
  const b = pool.ahead.open(["b1", "b2", "b3"]);
  a.start();
  b.start();
  const got: unknown[] = [];
  const askA = a.next({ adaptive: true }).then((part) => got.push(part));
  const askB = b.next({ adaptive: true }).then((part) => got.push(part));
  await flush();
  await pool.endGrace();
  assertEquals(got, [{ item: "a3", index: 2, behind: true }], "one as received per grace");
  await pool.endGrace();
  await Promise.all([askA, askB]);
  assertEquals(got[1], { item: "b3", index: 2, behind: true }, "the other after another grace");
  a.close();
  b.close();
  await pool.finish(2);
});

Deno.test("encode ahead: the pool serves the body that waits, before older requests that do not", async () => {
  const pool = fakePool(1, true);
  const older = pool.ahead.open(["o1", "o2", "o3"]);
  older.start();
  const newer = pool.ahead.open(["n1", "n2"]);
  newer.start();
  assertEquals(pool.started, ["o1"]);
  const asked = newer.next({ adaptive: true });
  await pool.finish(1);
  assertEquals(pool.started, ["o1", "n1"], "the waiting body's instance next, not o2");
  await pool.finish(1);
  assertEquals(await asked, { item: "n1", index: 0, result: "encoded n1" });
  older.close();
  newer.close();
  await pool.finish(2);
});

Deno.test("encode ahead: without adaptive sending every part waits for its compression", async () => {
  const pool = fakePool(2);
  const lot = pool.ahead.open(["i1", "i2", "i3"]);
  lot.start();
  const parts: string[] = [];
  const drain = (async () => {
    for (
      let part = await lot.next({ adaptive: false });
      part !== null;
      part = await lot.next({ adaptive: false })
    ) {
      assert("result" in part, "never as received");
      parts.push(part.result);
    }
  })();
  for (let i = 0; i < 3; i++) await pool.finish(1);
  await drain;
  assertEquals(parts, ["encoded i1", "encoded i2", "encoded i3"]);
  lot.close();
});

Deno.test("encode ahead: a closed lot frees what it held and what finishes later; the pool moves on", async () => {
  const pool = fakePool(2);
  const lot = pool.ahead.open(["x1", "x2", "x3"]);
  await pool.finish(1); // x1 finished, x3 started
  lot.close();
  assertEquals(pool.discarded, ["encoded x1"], "a finished result nobody will send is freed at once");
  const next = pool.ahead.open(["y1"]);
  await pool.finish(2); // x2 and x3 finish after the close
  assertEquals(pool.discarded.sort(), ["encoded x1", "encoded x2", "encoded x3"]);
  assertEquals(pool.started, ["x1", "x2", "x3", "y1"], "nothing more of the closed lot is started");
  assertEquals(await lot.next({ adaptive: true }), null);
  next.close();
  await pool.finish(1);
});

Deno.test("encode ahead: a preparation that throws gives the `failed` result", async () => {
  const ahead = new EncodeAhead<string, string>({
    limit: () => 1,
    prepare: () => Promise.reject(new Error("disk gone")),
    failed: (item, error) => `${item}: ${(error as Error).message}`,
    discard: () => {},
  });
  const lot = ahead.open(["z"]);
  lot.start();
  assertEquals(await lot.next({ adaptive: false }), { item: "z", index: 0, result: "z: disk gone" });
  lot.close();
});
