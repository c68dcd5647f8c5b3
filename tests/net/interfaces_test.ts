/** This PC's addresses: every non-loopback IPv4 address with its adapter, each marked with its range. */
import { assertEquals } from "../support/assert.ts";
import { describeAddress, ipv4Addresses, ipv4AddressKind, kindOf } from "../../src/net/interfaces.ts";

const nic = (name: string, address: string, family: "IPv4" | "IPv6" = "IPv4"): Deno.NetworkInterfaceInfo => ({
  name,
  address,
  family,
  netmask: family === "IPv4" ? "255.255.255.0" : "ffff:ffff:ffff:ffff::",
  scopeid: null,
  cidr: `${address}/24`,
  mac: "00:00:00:00:00:00",
});

Deno.test("ipv4AddressKind: RFC 1918 private, 100.64/10 shared, 169.254/16 link-local, others public", () => {
  for (const a of ["10.0.0.1", "172.16.0.1", "172.31.255.254", "192.168.1.20"]) {
    assertEquals(ipv4AddressKind(a), "private", a);
  }
  for (const a of ["100.64.0.1", "100.127.255.254"]) assertEquals(ipv4AddressKind(a), "shared", a);
  assertEquals(ipv4AddressKind("169.254.3.4"), "link-local");
  for (const a of ["172.15.0.1", "172.32.0.1", "100.63.0.1", "100.128.0.1", "130.92.1.2", "192.169.0.1"]) {
    assertEquals(ipv4AddressKind(a), "public", a);
  }
  for (const a of ["127.0.0.1", "127.1.2.3", "0.0.0.0", "::1", "not an address"]) {
    assertEquals(ipv4AddressKind(a), null, a);
  }
});

Deno.test("ipv4Addresses: every non-loopback IPv4 address, private first, link-local last, adapter names kept", () => {
  const list = ipv4Addresses([
    nic("lo", "127.0.0.1"),
    nic("Wi-Fi", "169.254.10.2"),
    nic("Hospital LAN", "130.92.40.7"),
    nic("Ethernet", "192.168.1.20"),
    nic("Ethernet", "fe80::1", "IPv6"),
    nic("Tailscale", "100.101.102.103"),
  ]);
  assertEquals(list.map((a) => [a.address, a.interfaceName, a.kind, a.linkLocal]), [
    ["192.168.1.20", "Ethernet", "private", false],
    ["100.101.102.103", "Tailscale", "shared", false],
    ["130.92.40.7", "Hospital LAN", "public", false],
    ["169.254.10.2", "Wi-Fi", "link-local", true],
  ]);
  assertEquals(ipv4Addresses([nic("lo", "127.0.0.1")]), []);
});

Deno.test("describeAddress names the adapter and the range; kindOf derives a missing kind", () => {
  assertEquals(
    describeAddress({ address: "192.168.1.20", interfaceName: "Ethernet" }),
    "192.168.1.20 (Ethernet, private)",
  );
  assertEquals(
    describeAddress({ address: "130.92.40.7", interfaceName: "LAN", kind: "public" }),
    "130.92.40.7 (LAN, public)",
  );
  assertEquals(kindOf({ address: "100.64.1.1" }), "shared");
});
