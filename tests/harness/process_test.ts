/** Tests of the process helpers: free ports, peak RSS, commands and streamed children. */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import {
  cpuSeconds,
  currentRssKb,
  freePort,
  peakRssKb,
  runCommand,
  spawnChild,
} from "../../scripts/harness/process.ts";

Deno.test("freePort returns a port that can be bound", () => {
  const port = freePort();
  assert(port > 0 && port < 65536);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  listener.close();
});

Deno.test({
  name: "peakRssKb reads VmHWM of a live process and undefined for a gone one",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const peak = await peakRssKb(Deno.pid);
    const now = await currentRssKb(Deno.pid);
    assert(peak !== undefined && now !== undefined && peak >= now && now > 1000, `${peak} ${now}`);
    assertEquals(await peakRssKb(0x7ffffff0), undefined);
    // Burn CPU until the counter shows 0.1 s more (on a loaded machine that takes longer than
    // 0.1 s of wall time; the 20 s bound only stops a counter that never moves).
    const before = (await cpuSeconds(Deno.pid))!;
    const giveUp = performance.now() + 20_000;
    let after = before;
    let x = 0;
    while (after - before < 0.1 && performance.now() < giveUp) {
      const until = performance.now() + 50;
      while (performance.now() < until) x += Math.sqrt(x + 1);
      after = (await cpuSeconds(Deno.pid))!;
    }
    assert(after - before >= 0.1 && x > 0, `cpu ${before} → ${after}`);
    assertEquals(await cpuSeconds(0x7ffffff0), undefined);
  },
});

Deno.test("runCommand collects output and exit code, and kills on timeout", async () => {
  const ok = await runCommand("sh", ["-c", "echo out; echo err >&2; exit 3"], { env: { X: "1" } });
  assertEquals([ok.code, ok.success, ok.stdout, ok.stderr, ok.timedOut], [3, false, "out\n", "err\n", false]);
  const slow = await runCommand("sleep", ["10"], { timeoutMs: 200 });
  assertEquals([slow.success, slow.timedOut], [false, true]);
  assert(slow.durationMs < 5000);
});

Deno.test("spawnChild streams output, waits for a pattern, and stops the child", async () => {
  const child = spawnChild("sh", ["-c", "echo starting; sleep 0.2; echo ready port=1234 >&2; sleep 30"]);
  const match = await child.waitForOutput(/ready port=(\d+)/, 5000);
  assertEquals(match[1], "1234");
  assert(child.output().includes("starting"));
  assertEquals(child.exited(), false);
  const status = await child.stop("SIGTERM", 2000);
  assertEquals(status.success, false);
  assertEquals(child.exited(), true);
});

Deno.test("spawnChild.waitForOutput rejects when the child exits first", async () => {
  const child = spawnChild("sh", ["-c", "echo bye; exit 2"]);
  await assertRejects(() => child.waitForOutput(/never/, 5000), Error, "exited before printing");
  assertEquals((await child.status).code, 2);
});
