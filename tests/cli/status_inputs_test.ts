/** The run command's wiring of the status page: values from the gateway; saving writes the file and applies it. */
import { assertEquals, assertStringIncludes } from "../status/helpers.ts";
import { statusInputs } from "../../src/cli/status_inputs.ts";
import { createStatusSource } from "../../src/status/source.ts";
import { joinPath } from "../../src/platform/fs.ts";
import { startTestGateway } from "../support/gateway.ts";

Deno.test("status inputs read the gateway; saving the form rewrites the file and applies the new destination", async () => {
  const gateway = await startTestGateway({ aeTitle: "WIRED" });
  try {
    const configPath = joinPath(gateway.dataDir, "settings.toml");
    const inputs = statusInputs(gateway, { configPath, args: ["--config", configPath] });
    assertEquals(inputs.aeTitle, "WIRED");
    assertEquals(inputs.dicomPort, gateway.port);
    assertEquals(inputs.queueCounts(), gateway.index.counts());
    const source = createStatusSource(inputs);
    assertEquals(source.snapshot().upload.state, "not-configured");
    await source.saveUploadSettings({ url: "https://pacs.example.org/dicom-web", authKind: "none" });
    assertStringIncludes(await Deno.readTextFile(configPath), 'url = "https://pacs.example.org/dicom-web"');
    assertEquals(gateway.uploadConfig().url, "https://pacs.example.org/dicom-web");
    assertEquals(source.snapshot().settings.url, "https://pacs.example.org/dicom-web");
  } finally {
    await gateway.dispose();
  }
});
