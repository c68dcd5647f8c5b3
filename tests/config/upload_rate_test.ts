/** upload.compression, upload.max_rate, upload.rate_windows and upload.urgent_ae_titles: parsed and checked. */
import { assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadConfig } from "../../src/config/load.ts";
import { formatRate, parseRate, parseRateWindow } from "../../src/config/rate.ts";
import { configError, withFile } from "./helpers.ts";

Deno.test("the defaults: JPEG-LS, no rate cap, no windows, no urgent AE titles", async () => {
  const { config } = await loadConfig([], { env: {}, baseDir: "/nonexistent" });
  assertEquals(config.upload.compression, "jpeg-ls");
  assertEquals(config.upload.compressionWorkers, 0);
  assertEquals(config.upload.maxRateBitsPerSecond, 0);
  assertEquals(config.upload.rateWindows, []);
  assertEquals(config.upload.urgentAeTitles, []);
});

Deno.test("rates in words: bits and bytes per second, unlimited", () => {
  assertEquals(parseRate("8 Mbit/s"), 8_000_000);
  assertEquals(parseRate("8Mbps"), 8_000_000);
  assertEquals(parseRate("500 kbit/s"), 500_000);
  assertEquals(parseRate("2 MB/s"), 16_000_000);
  assertEquals(parseRate("1.5 Gbit/s"), 1_500_000_000);
  assertEquals(parseRate("unlimited"), 0);
  assertEquals(parseRate("8 miles"), null);
  assertEquals(parseRate("-1 Mbit/s"), null);
  assertEquals(formatRate(8_000_000), "8 Mbit/s");
  assertEquals(formatRate(0), "unlimited");
});

Deno.test("time windows: days, local clock times, past midnight", () => {
  const weekdays = parseRateWindow("Mon-Fri 07:00-19:00 8 Mbit/s")!;
  assertEquals(weekdays.days, [false, true, true, true, true, true, false]);
  assertEquals([weekdays.fromMinute, weekdays.toMinute, weekdays.bitsPerSecond], [420, 1140, 8_000_000]);
  assertEquals(parseRateWindow("Sat,Sun 00:00-24:00 unlimited")!.days, [
    true,
    false,
    false,
    false,
    false,
    false,
    true,
  ]);
  assertEquals(parseRateWindow("Fri-Mon 22:00-06:00 2 Mbit/s")!.days, [
    true,
    true,
    false,
    false,
    false,
    true,
    true,
  ]);
  assertEquals(parseRateWindow("daily 07:00–19:00 8 Mbit/s")!.text, "daily 07:00-19:00 8 Mbit/s");
  assertEquals(parseRateWindow("Mon-Fri 07:00-19:00"), null);
  assertEquals(parseRateWindow("Mon-Fri 25:00-19:00 8 Mbit/s"), null);
  assertEquals(parseRateWindow("Someday 07:00-19:00 8 Mbit/s"), null);
});

Deno.test("the settings file, the environment and flags set them", async () => {
  const dir = await withFile(
    '[upload]\ncompression = "htj2k"\nmax_rate = "20 Mbit/s"\n' +
      'rate_windows = ["Mon-Fri 07:00-19:00 8 Mbit/s"]\nurgent_ae_titles = ["ER_CT"]\n',
  );
  const { config } = await loadConfig([], { env: {}, baseDir: dir });
  assertEquals(config.upload.compression, "htj2k");
  assertEquals(config.upload.maxRateBitsPerSecond, 20_000_000);
  assertEquals(config.upload.rateWindows.map((w) => w.text), ["Mon-Fri 07:00-19:00 8 Mbit/s"]);
  assertEquals(config.upload.urgentAeTitles, ["ER_CT"]);
  const { config: fromEnv } = await loadConfig(["--upload-compression", "none"], {
    env: { DICOM_GATEWAY_UPLOAD_RATE_WINDOWS: "Mon-Fri 07:00-19:00 8 Mbit/s; Sat 09:00-12:00 4 Mbit/s" },
    baseDir: "/nonexistent",
  });
  assertEquals(fromEnv.upload.compression, "none");
  assertEquals(fromEnv.upload.rateWindows.length, 2);
});

Deno.test("a wrong compression, rate or window is refused with what is allowed", async () => {
  const dir = await withFile(
    '[upload]\ncompression = "jpeg2000"\nmax_rate = "fast"\nrate_windows = ["weekdays 7-19 8 Mbit/s"]\n',
  );
  const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
  assertStringIncludes(err.message, '"compression" in [upload] must be "jpeg-ls", "htj2k", "none"');
  assertStringIncludes(err.message, '"max_rate" in [upload] must be "unlimited" or a rate like "8 Mbit/s"');
  assertStringIncludes(err.message, 'Not a time window: "weekdays 7-19 8 Mbit/s"');
});
