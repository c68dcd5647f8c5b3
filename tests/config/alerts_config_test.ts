/** `[alerts]`: defaults, times in minutes or with a unit, the token header as a pair, the token a secret. */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadConfig } from "../../src/config/load.ts";
import { initialConfigText } from "../../src/config/template.ts";
import { configError, tempDir, withFile } from "./helpers.ts";

Deno.test("[alerts] defaults: no webhook, 30 min stalled, 15 min unreachable, heartbeat at 8", async () => {
  const { config } = await loadConfig([], { env: {}, baseDir: await tempDir() });
  assertEquals(config.alerts, {
    webhookUrl: "",
    headerName: "",
    headerValue: "",
    stalledAfterMs: 30 * 60_000,
    unreachableAfterMs: 15 * 60_000,
    heartbeat: true,
    heartbeatHour: 8,
  });
  const text = initialConfigText();
  assertStringIncludes(text, "[alerts]");
  assertStringIncludes(text, 'stalled_after = "30 min"');
  assertStringIncludes(text, "DICOM_GATEWAY_ALERTS_HEADER_VALUE");
});

Deno.test("[alerts] from the file and the environment; times as minutes or text with a unit", async () => {
  const dir = await withFile(
    '[alerts]\nwebhook_url = "https://hooks.example.org/services/T/B/X?sig=abc"\nheader_name = "Authorization"\n' +
      'stalled_after = "2 h"\nunreachable_after = 5\nheartbeat_hour = 17\n',
  );
  const { config } = await loadConfig([], {
    env: { DICOM_GATEWAY_ALERTS_HEADER_VALUE: "Bearer tok" },
    baseDir: dir,
  });
  assertEquals(config.alerts.webhookUrl, "https://hooks.example.org/services/T/B/X?sig=abc");
  assertEquals(config.alerts.headerValue, "Bearer tok");
  assertEquals(config.alerts.stalledAfterMs, 120 * 60_000);
  assertEquals(config.alerts.unreachableAfterMs, 5 * 60_000);
  assertEquals(config.alerts.heartbeatHour, 17);
  const flags = await loadConfig(["--alerts-stalled-after", "45 min", "--no-alerts-heartbeat"], {
    env: {},
    baseDir: await tempDir(),
  });
  assertEquals(flags.config.alerts.stalledAfterMs, 45 * 60_000);
  assertEquals(flags.config.alerts.heartbeat, false);
});

Deno.test("[alerts] refusals: plain http to another PC, a bad time, a token without its header, the token as a flag", async () => {
  const base = await tempDir();
  const http = await configError(
    loadConfig(["--alerts-webhook-url", "http://hooks.example.org/x"], { env: {}, baseDir: base }),
  );
  assertStringIncludes(http.message, "https://");
  const time = await configError(loadConfig(["--alerts-stalled-after", "soon"], { env: {}, baseDir: base }));
  assertStringIncludes(time.message, 'text like "30 min" or "2 h"');
  const lonely = await configError(
    loadConfig([], { env: { DICOM_GATEWAY_ALERTS_HEADER_VALUE: "tok-123" }, baseDir: base }),
  );
  assertStringIncludes(lonely.message, "needs both header_name in [alerts]");
  assert(!lonely.message.includes("tok-123"), "the secret is not repeated");
  const flag = await configError(
    loadConfig(["--alerts-header-value", "tok-123"], { env: {}, baseDir: base }),
  );
  assertStringIncludes(flag.message, "DICOM_GATEWAY_ALERTS_HEADER_VALUE");
  assert(!flag.message.includes("tok-123"));
});
