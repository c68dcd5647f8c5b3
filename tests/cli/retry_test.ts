/**
 * `dicom-gateway retry-failed`: queues rejected instances again from another process, and a
 * running uploader (its own connection to the index) picks them up by its idle rescan.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { QueueIndex } from "../../src/store/queue_index.ts";
import { Uploader } from "../../src/upload/uploader.ts";
import { runRetryFailed } from "../../src/cli/retry.ts";
import { queueStudy, startFakeStow, waitFor } from "../upload/fake_stow.ts";
import { runCli } from "../../src/cli/main.ts";

Deno.test("retry-failed: rejected instances go out again through a running gateway's uploader", async () => {
  const fake = startFakeStow();
  const dataDir = await Deno.makeTempDir();
  const index = QueueIndex.open(`${dataDir}/queue.sqlite`);
  let uploader: Uploader | null = null;
  try {
    const study = await queueStudy(index, dataDir, { count: 3 });
    const other = await queueStudy(index, dataDir, { count: 1 });
    let accept = false;
    fake.after = ({ store }) => {
      if (accept) return undefined;
      store([]);
      return new Response("", { status: 400 });
    };
    uploader = new Uploader({
      index,
      dataDir,
      config: { ...defaultConfig(dataDir).upload, url: fake.url, maxBackoffMs: 200 },
      retryBaseMs: 20,
      retentionIntervalMs: 0,
      rescanMs: 100,
    });
    uploader.start();
    await waitFor(() => index.counts().failed === 4, "all four rejected");
    accept = true;

    // The command, as another process would run it: its own config, its own index connection.
    const lines: string[] = [];
    const config = { ...defaultConfig(dataDir), dataDir };
    assertEquals(await runRetryFailed(config, [study.studyInstanceUid], (l) => lines.push(l)), 0);
    assertStringIncludes(lines[0]!, "3 failed instance(s) put back in the upload queue");
    assertStringIncludes(lines.join("\n"), "HTTP 400");
    await waitFor(() => index.counts().delivered === 3, "the study's three delivered after the command");
    for (const uid of study.uids) assertEquals(fake.stored.get(uid), 1);
    assertEquals(index.counts().failed, 1, "the other study's instance is still failed");
    assertEquals(fake.stored.has(other.uids[0]!), false);

    lines.length = 0;
    assertEquals(await runRetryFailed(config, [], (l) => lines.push(l)), 0);
    await waitFor(() => index.counts().delivered === 4, "the rest delivered");
    lines.length = 0;
    assertEquals(await runRetryFailed(config, [], (l) => lines.push(l)), 0);
    assertEquals(lines, ["No failed instances."]);
  } finally {
    await uploader?.stop();
    await fake.close();
    index.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("retry-failed: bad arguments and a folder with no queue get a plain answer, nothing is created", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const config = { ...defaultConfig(dataDir), dataDir: `${dataDir}/none` };
    const lines: string[] = [];
    assertEquals(await runRetryFailed(config, ["1.2.3", "4.5.6"], (l) => lines.push(l)), 2);
    assertEquals(await runRetryFailed(config, ["../../etc"], (l) => lines.push(l)), 2);
    assertStringIncludes(lines[1]!, "is not a Study Instance UID");
    assertEquals(await runRetryFailed(config, [], (l) => lines.push(l)), 1);
    assertStringIncludes(lines[2]!, "There is no upload queue");
    assert(!(await Deno.stat(`${dataDir}/none`).then(() => true, () => false)), "no folder created");
    // Through the command line too.
    assertEquals(await runCli(["retry-failed", "--data-dir", `${dataDir}/none`]), 1);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
