/**
 * "HOST[:PORT]" as typed on the command line (`echo`, `store`).
 * @module
 */

/** Parses "HOST[:PORT]" (IPv6 in brackets: "[::1]:104"). */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const plain = /^([^:]+)(?::(\d+))?$/.exec(text);
  const match = bracket ?? plain;
  if (!match) throw new Error(`"${text}" is not HOST or HOST:PORT`);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${text}": port must be 1-65535`);
  return { host: match[1]!, port };
}
