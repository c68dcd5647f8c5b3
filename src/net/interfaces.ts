/**
 * This PC's addresses as the modality engineer needs them (pure helpers over
 * `Deno.networkInterfaces()` results): every non-loopback IPv4 address with its adapter name,
 * each marked with the kind of range it is in, so a PC on any LAN range is shown its address.
 * @module
 */
import { parseIpv4 } from "./ip.ts";

/**
 * The kind of range an IPv4 address is in:
 * - `private`: RFC 1918 (10/8, 172.16/12, 192.168/16), the usual clinic LAN;
 * - `shared`: RFC 6598 shared address space 100.64/10 (carrier-grade NAT, some VPNs such as Tailscale);
 * - `link-local`: RFC 3927 169.254/16, the PC got no address from DHCP; a modality cannot rely on it;
 * - `public`: any other address (a LAN numbered from a public range, or a directly connected PC).
 */
export type AddressKind = "private" | "shared" | "link-local" | "public";

/** An IPv4 address of this machine with the interface (adapter) it belongs to. */
export interface LocalAddress {
  address: string;
  interfaceName: string;
  /** 169.254.x.x: the PC got no address from DHCP; modalities cannot rely on it. */
  linkLocal: boolean;
  /** The range it is in; absent (older callers), {@link kindOf} derives it from `address`. */
  kind?: AddressKind;
}

/** The kind of `a`: its `kind`, else derived from its address. */
export function kindOf(a: Pick<LocalAddress, "address" | "kind">): AddressKind {
  return a.kind ?? ipv4AddressKind(a.address) ?? "public";
}

/** The kind of range `address` (dotted IPv4) is in; null for loopback (127/8), 0/8 and non-IPv4 text. */
export function ipv4AddressKind(address: string): AddressKind | null {
  const parts = parseIpv4(address);
  if (parts === undefined) return null;
  const [a, b] = parts as [number, number, number, number];
  if (a === 127 || a === 0) return null;
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "shared";
  if (a === 169 && b === 254) return "link-local";
  return "public";
}

/** The words shown after an address: `private`, `shared (carrier-grade NAT / VPN)`, … */
export function addressKindText(kind: AddressKind): string {
  switch (kind) {
    case "private":
      return "private";
    case "shared":
      return "shared range 100.64/10 (carrier-grade NAT or VPN)";
    case "link-local":
      return "link-local: no address from the network (DHCP); do not use";
    case "public":
      return "public";
  }
}

/** `192.168.1.20 (Ethernet, private)`: one address as the banner and `doctor` print it. */
export function describeAddress(a: Pick<LocalAddress, "address" | "interfaceName" | "kind">): string {
  return `${a.address} (${a.interfaceName}, ${addressKindText(kindOf(a))})`;
}

/**
 * Every non-loopback IPv4 address among the interfaces, in interface order, private ones first
 * (they are the ones a modality on the clinic LAN uses), link-local ones last.
 */
export function ipv4Addresses(interfaces: Deno.NetworkInterfaceInfo[]): LocalAddress[] {
  const rank: Record<AddressKind, number> = { private: 0, shared: 1, public: 2, "link-local": 3 };
  const out: LocalAddress[] = [];
  for (const i of interfaces) {
    if (i.family !== "IPv4") continue;
    const kind = ipv4AddressKind(i.address);
    if (kind === null) continue;
    out.push({ address: i.address, interfaceName: i.name, linkLocal: kind === "link-local", kind });
  }
  return out.map((a, n) => ({ a, n })).sort((x, y) => rank[kindOf(x.a)] - rank[kindOf(y.a)] || x.n - y.n)
    .map((x) => x.a);
}

/** This machine's non-loopback IPv4 addresses, or an empty list when they cannot be read. */
export function localIpv4Addresses(): LocalAddress[] {
  try {
    return ipv4Addresses(Deno.networkInterfaces());
  } catch {
    return [];
  }
}

/** The name `doctor` still imports: now every non-loopback IPv4 address, see {@link ipv4Addresses}. */
export const privateIpv4Addresses = ipv4Addresses;
/** The name `doctor` still imports: now every non-loopback IPv4 address, see {@link localIpv4Addresses}. */
export const localPrivateAddresses = localIpv4Addresses;
