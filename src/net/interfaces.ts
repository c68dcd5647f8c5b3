/**
 * This PC's addresses as the modality engineer needs them (pure helpers over
 * `Deno.networkInterfaces()` results).
 * @module
 */
import { parseIpv4 } from "./ip.ts";

/** An IPv4 address of this machine with the interface it belongs to. */
export interface LocalAddress {
  address: string;
  interfaceName: string;
  /** 169.254.x.x: the PC got no address from DHCP; modalities cannot rely on it. */
  linkLocal: boolean;
}

/** True for RFC 1918 private ranges: 10/8, 172.16/12, 192.168/16. */
function isPrivateIpv4(address: string): boolean {
  const parts = parseIpv4(address);
  if (parts === undefined) return false;
  const [a, b] = parts as [number, number, number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/** The private (and link-local) IPv4 addresses among the interfaces, loopback excluded. */
export function privateIpv4Addresses(interfaces: Deno.NetworkInterfaceInfo[]): LocalAddress[] {
  const out: LocalAddress[] = [];
  for (const i of interfaces) {
    if (i.family !== "IPv4") continue;
    const linkLocal = i.address.startsWith("169.254.");
    if (isPrivateIpv4(i.address) || linkLocal) {
      out.push({ address: i.address, interfaceName: i.name, linkLocal });
    }
  }
  return out;
}

/** This machine's private IPv4 addresses, or an empty list when they cannot be read. */
export function localPrivateAddresses(): LocalAddress[] {
  try {
    return privateIpv4Addresses(Deno.networkInterfaces());
  } catch {
    return [];
  }
}
