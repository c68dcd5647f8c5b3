/**
 * IP addresses and CIDR ranges: the one parser, used both to check `allowed_addresses` in the
 * configuration and to match a peer against it, so an entry that validates is an entry that
 * matches (RFC 4291 §2.2 text forms of IPv6, §2.5.5.2 IPv4-mapped addresses; RFC 4632 §3.1
 * prefix notation). Addresses are compared as 16 bytes, IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so a peer arriving over a dual-stack socket matches its IPv4 range.
 * Pure functions only.
 * @module
 */

/** An allow-list entry: a network as 16 bytes and how many leading bits must match (0–128). */
export interface AddressRange {
  network: Uint8Array;
  prefix: number;
}

/**
 * The four bytes of a dotted IPv4 address, or undefined. Each part is a decimal number 0–255
 * written without leading zeros: "010" is refused, because inet_aton and others read it as
 * octal (8) while people mean 10, so such an entry would match some other address than intended.
 */
export function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes.push(n);
  }
  return bytes;
}

/** The 16 bytes of an IPv6 address (RFC 4291 §2.2: groups, `::`, a dotted IPv4 tail), or undefined. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (!text.includes(":")) return undefined;
  // An embedded dotted IPv4 tail (e.g. ::ffff:10.0.0.1) counts as two groups.
  const lastColon = text.lastIndexOf(":");
  let head = text;
  const tail = text.slice(lastColon + 1);
  let tailGroups: number[] = [];
  if (tail.includes(".")) {
    const v4 = parseIpv4(tail);
    if (v4 === undefined) return undefined;
    tailGroups = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]!);
  const right = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (left === undefined || right === undefined) return undefined;
  const explicit = left.length + right.length + tailGroups.length;
  let groups: number[];
  if (halves.length === 2) {
    if (explicit > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - explicit).fill(0), ...right, ...tailGroups];
  } else {
    if (explicit !== 8) return undefined;
    groups = [...left, ...tailGroups];
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** True for a dotted IPv4 address as {@link parseIpv4} reads it. */
export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

/** True for an IPv6 address as {@link parseIpv6} reads it (no brackets, no zone). */
export function isIpv6(text: string): boolean {
  return parseIpv6(text) !== undefined;
}

/** An IPv4 (as IPv4-mapped IPv6) or IPv6 address literal as 16 bytes, or undefined. */
function parseIpAddress(text: string): Uint8Array | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4);
  return parseIpv6(text);
}

/**
 * A peer's address as the socket reports it, as 16 bytes: surrounding space, brackets and an
 * IPv6 zone id ("fe80::1%eth0") are dropped first.
 */
export function parsePeerAddress(text: string): Uint8Array | undefined {
  return parseIpAddress(text.trim().replace(/^\[|\]$/g, "").replace(/%.*$/, ""));
}

/** True for a loopback address: 127.0.0.0/8, ::1, or their IPv4-mapped forms. */
export function isLoopbackAddress(address: Uint8Array): boolean {
  const mapped = address.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
  if (mapped) return address[12] === 127;
  return address.subarray(0, 15).every((b) => b === 0) && address[15] === 1;
}

/**
 * An allow-list entry ("10.0.0.0/8", "fd00::/8", "192.168.1.20") parsed, or one plain sentence
 * saying why it cannot be used. Host bits set after the prefix ("10.0.0.1/8") are allowed and
 * ignored, as the range is what matches.
 */
export function parseAddressRange(entry: string): { range: AddressRange } | { problem: string } {
  const text = entry.trim();
  const [addressText = "", prefixText, extra] = text.split("/");
  const shown = JSON.stringify(text);
  if (extra !== undefined) return { problem: `${shown} has more than one "/".` };
  const network = parseIpAddress(addressText);
  if (network === undefined) return { problem: addressProblem(shown, addressText) };
  const isV4 = !addressText.includes(":");
  const maxBits = isV4 ? 32 : 128;
  if (prefixText === undefined) return { range: { network, prefix: 128 } };
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > maxBits) {
    return {
      problem: `${shown}: the number after "/" must be 0 to ${maxBits} for an ${
        isV4 ? "IPv4" : "IPv6"
      } range.`,
    };
  }
  const bits = Number(prefixText);
  return { range: { network, prefix: isV4 ? 96 + bits : bits } };
}

/** Why `address` (from the entry `shown`) is not an address, in one sentence. */
function addressProblem(shown: string, address: string): string {
  const parts = address.split(".");
  if (parts.some((p) => /^0[0-9]+$/.test(p))) {
    const meant = parts.map((p) => /^[0-9]+$/.test(p) ? String(Number(p)) : p).join(".");
    return `${shown} has a number with a leading zero, which programs read differently ` +
      `(010 as octal 8 or as decimal 10), so it would not match what is meant: write ${meant}.`;
  }
  if (/^\[.*\]$/.test(address)) {
    return `${shown}: write the IPv6 address without the brackets, e.g. ${address.slice(1, -1)}.`;
  }
  if (address.includes("%")) return `${shown}: leave out the "%" zone, e.g. ${address.replace(/%.*$/, "")}.`;
  if (address.includes(":")) {
    return `${shown} is not a complete IPv6 address: it needs 8 groups of up to 4 hex digits, ` +
      `or "::" in place of groups of zeros (e.g. fd00::1).`;
  }
  return `${shown} is not an IPv4 or IPv6 address.`;
}

/** Whether an allow-list entry is well formed (an address, optionally with a CIDR prefix length). */
export function isValidAddressPattern(entry: string): boolean {
  return "range" in parseAddressRange(entry);
}

/** Whether `address` (16 bytes) lies in `range`; host bits set in the range's network are ignored. */
function inAddressRange(address: Uint8Array, range: AddressRange): boolean {
  for (let bit = 0; bit < range.prefix; bit += 8) {
    const bits = Math.min(8, range.prefix - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    const i = bit / 8;
    if ((address[i]! & mask) !== (range.network[i]! & mask)) return false;
  }
  return true;
}

/**
 * Whether the peer `address` matches one of `allowed` (IPv4 or IPv6 addresses and CIDR ranges).
 * IPv4 and IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are the same address, so either form
 * matches either. An empty list allows every address; malformed entries (which the
 * configuration refuses) match nothing.
 */
export function addressAllowed(address: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const ip = parsePeerAddress(address);
  if (ip === undefined) return false;
  return allowed.some((entry) => {
    const parsed = parseAddressRange(entry);
    return "range" in parsed && inAddressRange(ip, parsed.range);
  });
}
