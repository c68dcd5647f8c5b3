/**
 * C-ECHO interop with DCMTK: `echoscu` → the gateway, and the gateway's own `echo` command →
 * DCMTK `storescp`.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { echoscu, startStorescp } from "../../scripts/harness/dcmtk.ts";
import { startTestGateway } from "../support/gateway.ts";
import { freePort, runGatewayCommand } from "../../scripts/harness/process.ts";
import { interopTest } from "../support/tools.ts";

interopTest(
  "echoscu → gateway: C-ECHO Success, whatever the calling and called AE titles",
  ["echoscu"],
  async () => {
    const gateway = await startTestGateway();
    try {
      for (const [callingAe, calledAe] of [["ECHOSCU", "DICOM_GATEWAY"], ["MODALITY_7", "ANY-SCP"]]) {
        const result = await echoscu("127.0.0.1", gateway.port, {
          callingAe: callingAe!,
          calledAe: calledAe!,
          verbose: true,
        });
        assertEquals(result.code, 0, `${callingAe} → ${calledAe}: ${result.stderr}`);
        assert(/Received Echo Response \(Success\)/.test(result.stderr + result.stdout), result.stderr);
      }
    } finally {
      await gateway.dispose();
    }
  },
);

interopTest(
  "gateway `echo` command → DCMTK storescp: exit 0; a closed port: exit 1",
  ["storescp", "echoscu"],
  async () => {
    const out = await Deno.makeTempDir({ prefix: "dgw-echo-test-" });
    const scp = await startStorescp({ outDir: out, aeTitle: "STORESCP" });
    try {
      const ok = await runGatewayCommand(["echo", `127.0.0.1:${scp.port}`, "--called-ae", "STORESCP"]);
      assertEquals(ok.code, 0, ok.stdout + ok.stderr);
      assert(/Success/.test(ok.stdout), ok.stdout);
    } finally {
      await scp.stop();
      await Deno.remove(out, { recursive: true });
    }
    const closed = await runGatewayCommand(["echo", `127.0.0.1:${freePort()}`]);
    assertEquals(closed.code, 1, closed.stdout + closed.stderr);
  },
);
