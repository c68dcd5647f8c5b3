/** The one IP/CIDR parser: addresses, ranges and their edges, and the allowlist matcher built on them. */
import { assert, assertEquals } from "../status/helpers.ts";
import {
  addressAllowed,
  isIpv4,
  isIpv6,
  isLoopbackAddress,
  isValidAddressPattern,
  parseAddressRange,
  parseIpv4,
  parseIpv6,
  parsePeerAddress,
} from "../../src/net/ip.ts";

Deno.test("IPv4: four decimal parts 0-255, no leading zeros (010 is octal to inet_aton)", () => {
  assertEquals(parseIpv4("10.0.0.1"), [10, 0, 0, 1]);
  assertEquals(parseIpv4("0.0.0.0"), [0, 0, 0, 0]);
  assertEquals(parseIpv4("255.255.255.255"), [255, 255, 255, 255]);
  for (
    const bad of ["010.0.0.1", "10.0.0.01", "256.0.0.1", "10.0.0", "10.0.0.1.2", "1e1.0.0.1", " 10.0.0.1", ""]
  ) {
    assertEquals(parseIpv4(bad), undefined, bad);
    assert(!isIpv4(bad), bad);
  }
});

Deno.test("IPv6: 8 groups, or fewer with one ::, with an optional dotted IPv4 tail", () => {
  assertEquals(parseIpv6("::1"), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  assertEquals(parseIpv6("::"), new Uint8Array(16));
  assertEquals(parseIpv6("1:2:3:4:5:6:7:8")?.[15], 8);
  assertEquals([...parseIpv6("::ffff:10.0.0.1")!.subarray(10)], [0xff, 0xff, 10, 0, 0, 1]);
  for (
    const bad of [
      "1:2:3",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "::g",
      "1:2:3:4:5:6:7::8",
      "::ffff:010.0.0.1",
    ]
  ) {
    assertEquals(parseIpv6(bad), undefined, bad);
    assert(!isIpv6(bad), bad);
  }
  assert(isIpv6("fd00::1"));
});

Deno.test("peer addresses: brackets and the IPv6 zone are dropped; IPv4 is IPv4-mapped", () => {
  assertEquals(parsePeerAddress("[::1]"), parseIpv6("::1"));
  assertEquals(parsePeerAddress("fe80::1%eth0"), parseIpv6("fe80::1"));
  assertEquals(parsePeerAddress("10.0.0.1"), parseIpv6("::ffff:10.0.0.1"));
  assert(isLoopbackAddress(parsePeerAddress("127.3.2.1")!));
  assert(isLoopbackAddress(parsePeerAddress("::1")!));
  assert(!isLoopbackAddress(parsePeerAddress("10.0.0.1")!));
  assert(!isLoopbackAddress(parsePeerAddress("::2")!));
});

Deno.test("allowlist entries that cannot match anything are refused with one plain sentence", () => {
  const problem = (entry: string) => {
    const parsed = parseAddressRange(entry);
    return "problem" in parsed ? parsed.problem : null;
  };
  assertEquals(
    problem("010.0.0.1"),
    '"010.0.0.1" has a number with a leading zero, which programs read differently (010 as octal 8 or ' +
      "as decimal 10), so it would not match what is meant: write 10.0.0.1.",
  );
  assertEquals(
    problem("1:2:3"),
    '"1:2:3" is not a complete IPv6 address: it needs 8 groups of up to 4 hex digits, or "::" in place ' +
      "of groups of zeros (e.g. fd00::1).",
  );
  assertEquals(
    problem("10.0.0.0/33"),
    '"10.0.0.0/33": the number after "/" must be 0 to 32 for an IPv4 range.',
  );
  assertEquals(
    problem("fd00::/129"),
    '"fd00::/129": the number after "/" must be 0 to 128 for an IPv6 range.',
  );
  assertEquals(
    problem("10.0.0.0/08"),
    '"10.0.0.0/08": the number after "/" must be 0 to 32 for an IPv4 range.',
  );
  assertEquals(problem("10.0.0.0/8/8"), '"10.0.0.0/8/8" has more than one "/".');
  assertEquals(problem("[::1]"), '"[::1]": write the IPv6 address without the brackets, e.g. ::1.');
  assertEquals(problem("fe80::1%eth0"), '"fe80::1%eth0": leave out the "%" zone, e.g. fe80::1.');
  assertEquals(problem("pacs.local"), '"pacs.local" is not an IPv4 or IPv6 address.');
  assertEquals(problem("10.0.0.1"), null);
});

Deno.test("CIDR edges: /0, /32, /128, host bits set, IPv4-mapped peers", () => {
  // /0 of IPv4 is every IPv4 address (also when it arrives IPv4-mapped), no pure IPv6 one.
  assert(addressAllowed("203.0.113.9", ["0.0.0.0/0"]));
  assert(addressAllowed("::ffff:203.0.113.9", ["0.0.0.0/0"]));
  assert(!addressAllowed("2001:db8::1", ["0.0.0.0/0"]));
  // ::/0 is every address.
  assert(addressAllowed("2001:db8::1", ["::/0"]));
  assert(addressAllowed("203.0.113.9", ["::/0"]));
  // /32 and /128 are one address.
  assert(addressAllowed("10.0.0.1", ["10.0.0.1/32"]));
  assert(!addressAllowed("10.0.0.2", ["10.0.0.1/32"]));
  assert(addressAllowed("fd00::1", ["fd00::1/128"]));
  assert(!addressAllowed("fd00::2", ["fd00::1/128"]));
  // Host bits set after the prefix: the range is what matches.
  assert(isValidAddressPattern("10.0.0.1/8"));
  assert(addressAllowed("10.255.0.1", ["10.0.0.1/8"]));
  assert(!addressAllowed("11.0.0.1", ["10.0.0.1/8"]));
  // A peer arriving IPv4-mapped over a dual-stack socket matches its IPv4 range, and back.
  assert(addressAllowed("::ffff:10.0.0.1", ["10.0.0.0/8"]));
  assert(addressAllowed("[::ffff:10.0.0.1]", ["10.0.0.0/8"]));
  assert(addressAllowed("10.0.0.1", ["::ffff:10.0.0.0/104"]));
  assert(!addressAllowed("::ffff:11.0.0.1", ["10.0.0.0/8"]));
  // Refused entries match nothing: not even the address they seem to name.
  assert(!addressAllowed("10.0.0.1", ["010.0.0.1"]));
  assert(!addressAllowed("8.0.0.1", ["010.0.0.1"]));
  assert(!addressAllowed("::1", ["[::1]"]));
});

Deno.test("what validates matches: every accepted entry matches its own address", () => {
  const entries = [
    "10.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "192.168.1.0/24",
    "10.0.0.1/8",
    "0.0.0.0/0",
    "::",
    "::1",
    "fd00::/8",
    "::ffff:10.0.0.1",
    "::ffff:10.0.0.0/104",
    "2001:db8::1/128",
    "1:2:3:4:5:6:7:8",
    "010.0.0.1",
    "1:2:3",
    "10.0.0.0/33",
    "[::1]",
    "fe80::1%eth0",
    "1.2.3",
  ];
  for (const entry of entries) {
    const address = entry.split("/")[0]!;
    assertEquals(addressAllowed(address, [entry]), isValidAddressPattern(entry), entry);
  }
});
