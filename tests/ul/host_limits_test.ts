/** Per-host shares of the acceptor's capacity, and the once-per-host-per-minute refusal log. */
import { assert, assertEquals } from "../support/assert.ts";
import { HostLimits, RefusalLog } from "../../src/ul/host_limits.ts";

Deno.test("host limits: a host's negotiating connections are capped; others hosts are not affected", () => {
  const limits = new HostLimits({ maxAssociationsPerHost: 8, maxNegotiatingPerHost: 2 });
  const a = limits.open("127.0.0.2")!;
  const b = limits.open("127.0.0.2")!;
  assert(a && b);
  assertEquals(limits.open("127.0.0.2"), undefined);
  assert(limits.open("127.0.0.1") !== undefined, "another host still gets a slot");
  // Accepted, a connection counts as an association; rejected, it counts until it closes.
  a.negotiated(true);
  assertEquals([limits.negotiating("127.0.0.2"), limits.associations("127.0.0.2")], [1, 1]);
  const c = limits.open("127.0.0.2")!;
  assert(c !== undefined);
  c.negotiated(false);
  assertEquals([limits.negotiating("127.0.0.2"), limits.associations("127.0.0.2")], [2, 1]);
  assertEquals(limits.open("127.0.0.2"), undefined, "a rejected connection not yet closed still counts");
  // Closing twice, or negotiating after close, changes nothing.
  a.close();
  a.close();
  a.negotiated(true);
  b.close();
  c.close();
  assertEquals([limits.negotiating("127.0.0.2"), limits.associations("127.0.0.2")], [0, 0]);
});

Deno.test("refusal log: one line per host per minute, the next one counts those not logged", () => {
  let now = 1_000_000;
  const log = new RefusalLog({ now: () => now });
  assertEquals(log.note("127.0.0.2"), { log: true, suppressed: 0 });
  now += 1000;
  assertEquals(log.note("127.0.0.2"), { log: false });
  assertEquals(log.note("127.0.0.3"), { log: true, suppressed: 0 }, "each host has its own minute");
  now += 58_999;
  assertEquals(log.note("127.0.0.2"), { log: false });
  now += 1;
  assertEquals(log.note("127.0.0.2"), { log: true, suppressed: 2 });
  assertEquals(log.note("127.0.0.2"), { log: false });
});
