/** allowed_addresses is checked by the same parser the allowlist matches with. */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { loadConfig } from "../../src/config/load.ts";
import { addressAllowed } from "../../src/net/ip.ts";
import { configError, withFile } from "./helpers.ts";

Deno.test('allowed_addresses = ["010.0.0.1"] is refused: a leading zero is octal to some programs', async () => {
  const dir = await withFile('allowed_addresses = ["010.0.0.1"]\n');
  const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
  assertEquals(err.problems, [
    'dicom-gateway.toml line 1: "allowed_addresses" must be a list of IP addresses or ranges, e.g. ' +
    '["192.168.1.20", "10.0.0.0/8"], got 010.0.0.1. "010.0.0.1" has a number with a leading zero, which ' +
    "programs read differently (010 as octal 8 or as decimal 10), so it would not match what is meant: " +
    "write 10.0.0.1.",
  ]);
});

Deno.test('allowed_addresses = ["1:2:3"] is refused: not a complete IPv6 address', async () => {
  const dir = await withFile('allowed_addresses = ["1:2:3"]\n');
  const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
  assertStringIncludes(err.message, 'got 1:2:3. "1:2:3" is not a complete IPv6 address');
});

Deno.test("address problems name each bad entry, from the environment and flags too", async () => {
  const env = { DICOM_GATEWAY_ALLOWED_ADDRESSES: "10.0.0.0/8, 10.0.0.0/33" };
  const fromEnv = await configError(loadConfig([], { env, baseDir: "/nonexistent" }));
  assertStringIncludes(fromEnv.message, "environment variable DICOM_GATEWAY_ALLOWED_ADDRESSES must be");
  assertStringIncludes(
    fromEnv.message,
    '"10.0.0.0/33": the number after "/" must be 0 to 32 for an IPv4 range.',
  );
  const fromFlag = await configError(
    loadConfig(["--allowed-addresses", "010.0.0.1,1:2:3"], { env: {}, baseDir: "/nonexistent" }),
  );
  assertStringIncludes(fromFlag.message, "option --allowed-addresses must be");
  assertStringIncludes(fromFlag.message, "write 10.0.0.1.");
  assertStringIncludes(fromFlag.message, '"1:2:3" is not a complete IPv6 address');
});

Deno.test("CIDR edges that validate also match", async () => {
  const entries = ["0.0.0.0/0", "10.0.0.1/32", "fd00::1/128", "10.0.0.1/8", "::ffff:10.0.0.0/104", "::/0"];
  const dir = await withFile(`allowed_addresses = ${JSON.stringify(entries)}\n`);
  const { config } = await loadConfig([], { env: {}, baseDir: dir });
  assertEquals(config.allowedAddresses, entries);
  for (
    const [peer, entry] of [
      ["203.0.113.9", "0.0.0.0/0"],
      ["10.0.0.1", "10.0.0.1/32"],
      ["fd00::1", "fd00::1/128"],
      ["10.9.9.9", "10.0.0.1/8"],
      ["::ffff:10.0.0.1", "10.0.0.1/8"],
      ["10.0.0.1", "::ffff:10.0.0.0/104"],
      ["2001:db8::1", "::/0"],
    ] as const
  ) {
    assert(addressAllowed(peer, [entry]), `${peer} in ${entry}`);
  }
});

Deno.test("an upload url ending in /studies is refused with the root to give instead", async () => {
  const dir = await withFile('[upload]\nurl = "https://pacs.example.org/dicom-web/studies/"\n');
  const err = await configError(loadConfig([], { env: {}, baseDir: dir }));
  assertStringIncludes(err.message, "must be the DICOMweb root, not its /studies resource");
  assertStringIncludes(err.message, "give the DICOMweb root instead (https://pacs.example.org/dicom-web)");
  const ok = await loadConfig([], {
    env: { DICOM_GATEWAY_UPLOAD_URL: "https://pacs.example.org/dicom-web/studies-archive" },
    baseDir: "/nonexistent",
  });
  assertEquals(ok.config.upload.url, "https://pacs.example.org/dicom-web/studies-archive");
});

Deno.test('max_inflated_size: "512 MiB" and the default 4 GiB; below 1 MiB or not a size is refused', async () => {
  const { config: defaults } = await loadConfig([], { env: {}, baseDir: await withFile("") });
  assertEquals(defaults.maxInflatedSize, 4 * 1024 * 1024 * 1024);
  const { config } = await loadConfig([], {
    env: {},
    baseDir: await withFile('max_inflated_size = "512 MiB"\n'),
  });
  assertEquals(config.maxInflatedSize, 512 * 1024 * 1024);
  const fromEnv = await loadConfig([], {
    env: { DICOM_GATEWAY_MAX_INFLATED_SIZE: "2 GiB" },
    baseDir: "/nonexistent",
  });
  assertEquals(fromEnv.config.maxInflatedSize, 2 * 1024 * 1024 * 1024);
  for (const bad of ['"1 KiB"', '"lots"']) {
    const err = await configError(
      loadConfig([], { env: {}, baseDir: await withFile(`max_inflated_size = ${bad}\n`) }),
    );
    assertStringIncludes(err.message, '"max_inflated_size" must be a size');
  }
});
