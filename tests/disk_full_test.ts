/**
 * Disk full, for real: the data folder on a 1 MiB tmpfs. A C-STORE that does not fit is answered
 * 0xA700 (Refused: out of resources), leaves no partial file, and the association carries on.
 * Needs root for `mount` (CI runs as root, so there it must run; elsewhere it is ignored).
 */
import { assert, assertEquals } from "./support/assert.ts";
import { associateRq, cStorePdus, encodePdu, ScriptedPeer } from "./support/peer.ts";
import { leftoverTemporaryFiles, listFiles } from "./support/gateway.ts";
import { CT_IMAGE_STORAGE, IMPLICIT_VR_LE, tinyDataset } from "./support/dataset.ts";
import { decodeCommandSet } from "../src/dimse/command.ts";
import { defaultConfig } from "../src/config/types.ts";
import { startGateway } from "../src/gateway.ts";

const isRoot = Deno.build.os === "linux" && Deno.uid() === 0;
const inCi = Deno.env.get("CI") === "true";

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test({
  name: "disk full: C-STORE answered 0xA700, nothing partial left, association lives on",
  ignore: !isRoot && !inCi,
  async fn() {
    assert(isRoot, "this test needs root (mount -t tmpfs); CI runs as root");
    const mountPoint = await Deno.makeTempDir({ prefix: "gw-tmpfs-" });
    await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]);
    try {
      const gateway = await startGateway({
        ...defaultConfig(mountPoint),
        port: 0,
        bindAddress: "127.0.0.1",
        statusPort: 0,
        logDir: "",
      });
      try {
        const peer = await ScriptedPeer.connect(gateway.port);
        await peer.send(
          encodePdu(
            associateRq([{ id: 1, abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [IMPLICIT_VR_LE] }]),
          ),
        );
        const ac = await peer.receive();
        assert(typeof ac !== "string" && ac.type === "A-ASSOCIATE-AC");
        const status = async (uid: string, pixelBytes: number) => {
          for (
            const p of cStorePdus({
              contextId: 1,
              messageId: 1,
              sopClassUid: CT_IMAGE_STORAGE,
              sopInstanceUid: uid,
              dataset: tinyDataset({ sopInstanceUid: uid, pixelBytes }),
            })
          ) {
            await peer.send(p);
          }
          const rsp = await peer.receive();
          assert(typeof rsp !== "string" && rsp.type === "P-DATA-TF");
          return decodeCommandSet(rsp.pdvs[0]!.data).status;
        };
        assertEquals(await status("1.2.3.100", 3 * 1024 * 1024), 0xa700);
        assertEquals(await leftoverTemporaryFiles(`${mountPoint}/data/tmp`), []);
        assertEquals(await listFiles(`${mountPoint}/data/instances`), []);
        // Space came back when the partial file was removed: a small instance still succeeds.
        assertEquals(await status("1.2.3.101", 20_000), 0x0000);
        peer.close();
        assertEquals(gateway.index.counts().pending, 1);
      } finally {
        await gateway.close();
      }
    } finally {
      await run("umount", [mountPoint]);
      await Deno.remove(mountPoint, { recursive: true });
    }
  },
});
