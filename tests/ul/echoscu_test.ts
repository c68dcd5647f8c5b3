/**
 * The pure UL core against a real peer: DCMTK echoscu talks to a minimal acceptor built only from
 * PduFramer, decodePdu, the state table, negotiate and encodePdu (no association.ts), so a
 * mismatch with a real implementation shows up here first. Ignored when echoscu is not installed,
 * except in CI, where a missing echoscu fails.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { PduFramer } from "../../src/ul/framer.ts";
import { decodePdu } from "../../src/ul/pdu_decode.ts";
import { encodePDataTf, encodePdu } from "../../src/ul/pdu_encode.ts";
import { type AssociationPolicy, negotiate } from "../../src/ul/negotiation.ts";
import { type Action, type Event, type State, transition } from "../../src/ul/state_machine.ts";
import type { Pdu } from "../../src/ul/pdu.ts";
import { fixture } from "./fixtures.ts";

// Outside CI the tests are ignored when echoscu is missing; in CI (CI=true) they must run.
const HAVE_ECHOSCU = await new Deno.Command("echoscu", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success).catch(() => false) || Deno.env.get("CI") === "true";

const POLICY: AssociationPolicy = {
  aeTitle: "GATEWAY",
  allowedCallingAeTitles: [],
  allowedAddresses: ["127.0.0.0/8", "::1"],
  requireCalledAeTitle: true,
  maxAssociations: 4,
  maxPduLength: 16384,
  implementationClassUid: "1.2.826.0.1.3680043.10.1418.1",
  implementationVersionName: "DICOMGW_0.1",
};

const EVENT: Record<Pdu["type"], Event> = {
  "A-ASSOCIATE-AC": "Evt3",
  "A-ASSOCIATE-RJ": "Evt4",
  "A-ASSOCIATE-RQ": "Evt6",
  "P-DATA-TF": "Evt10",
  "A-RELEASE-RQ": "Evt12",
  "A-RELEASE-RP": "Evt13",
  "A-ABORT": "Evt16",
};

/** Serves one connection with the state table; returns the actions taken, in order. */
async function serveOne(listener: Deno.Listener, policy: AssociationPolicy): Promise<Action[]> {
  const conn = await listener.accept();
  const framer = new PduFramer({ maxPDataLength: policy.maxPduLength });
  const actions: Action[] = [];
  let state: State = "Sta1";
  const write = async (bytes: Uint8Array) => {
    for (let w = 0; w < bytes.length;) w += await conn.write(bytes.subarray(w));
  };
  const apply = async (event: Event, pdu?: Pdu): Promise<void> => {
    const { action, next } = transition(state, event);
    actions.push(action);
    state = next;
    if (action === "AE-6" && pdu?.type === "A-ASSOCIATE-RQ") {
      const result = negotiate(pdu, policy, { peerAddress: "127.0.0.1", activeAssociations: 0 });
      if (result.kind === "accept") {
        const { action: a, next: n } = transition(state, "Evt7"); // AE-7: send AC
        actions.push(a);
        state = n;
        await write(encodePdu(result.ac));
      } else {
        const { action: a, next: n } = transition(state, "Evt8"); // AE-8: send RJ
        actions.push(a);
        state = n;
        await write(encodePdu(result.rj));
      }
    } else if (action === "DT-2" && pdu?.type === "P-DATA-TF") {
      // The C-ECHO-RSP of the captured fixture answers message ID 1, which echoscu always uses.
      const rsp = decodePdu(await fixture("p_data_tf_c_echo_rsp_gateway"));
      assert(rsp.type === "P-DATA-TF");
      await write(encodePDataTf(rsp.pdvs));
    } else if (action === "AR-2") {
      await apply("Evt14");
    } else if (action === "AR-4") {
      await write(encodePdu({ type: "A-RELEASE-RP" }));
    }
  };
  await apply("Evt5");
  try {
    for await (const chunk of conn.readable) {
      for (const frame of framer.push(chunk)) {
        const pdu = decodePdu(frame);
        await apply(EVENT[pdu.type], pdu);
      }
    }
  } catch {
    // reset by the peer: treated as the close below
  }
  await apply("Evt17");
  assertEquals(state, "Sta1");
  return actions;
}

async function echoscu(port: number, calledAe: string): Promise<Deno.CommandOutput> {
  return await new Deno.Command("echoscu", {
    args: ["-aet", "ECHOSCU", "-aec", calledAe, "127.0.0.1", String(port)],
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test({
  name: "echoscu: C-ECHO through framer, decoder, state table, negotiation and encoder succeeds",
  ignore: !HAVE_ECHOSCU,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = serveOne(listener, POLICY);
    const output = await echoscu((listener.addr as Deno.NetAddr).port, "GATEWAY");
    const actions = await served;
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    assertEquals(actions, ["AE-5", "AE-6", "AE-7", "DT-2", "AR-2", "AR-4", "AR-5"]);
  },
});

Deno.test({
  name: "echoscu: a wrong called AE title is rejected with A-ASSOCIATE-RJ and echoscu reports it",
  ignore: !HAVE_ECHOSCU,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = serveOne(listener, POLICY);
    const output = await echoscu((listener.addr as Deno.NetAddr).port, "SOMEONE_ELSE");
    const actions = await served;
    assert(output.code !== 0, "echoscu must fail");
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    assert(/Called AE Title Not Recognized/i.test(text), text);
    assertEquals(actions, ["AE-5", "AE-6", "AE-8", "AR-5"]);
  },
});
