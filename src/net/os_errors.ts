/**
 * Operating-system error tails in words: "Connection refused (os error 111)" → "connection
 * refused". Deno's messages carry the errno (Linux) or Winsock / Win32 code (Windows) in brackets;
 * clinic staff read the words. Pure.
 * @module
 */

/** errno (Linux, Deno's `os error N`) and Winsock/Win32 codes that reach the logs and the page. */
const OS_ERRORS: Record<string, Record<number, string>> = {
  linux: {
    2: "file or folder not found",
    5: "input/output error",
    13: "permission denied",
    28: "no space left on the disk",
    98: "address already in use",
    99: "address not available on this PC",
    101: "network unreachable",
    103: "connection aborted",
    104: "connection reset by the other side",
    110: "connection timed out",
    111: "connection refused",
    113: "no route to the host",
  },
  windows: {
    2: "file not found",
    3: "folder not found",
    5: "access denied",
    32: "the file is in use by another program",
    112: "no space left on the disk",
    10048: "address already in use",
    10049: "address not available on this PC",
    10051: "network unreachable",
    10053: "connection aborted",
    10054: "connection reset by the other side",
    10060: "connection timed out",
    10061: "connection refused",
    10065: "no route to the host",
  },
};

/**
 * Replaces "OS message (os error N)" by plain words for N (the operating system's message before
 * the code says the same thing in its own words: "Connection refused (os error 111)" →
 * "connection refused"); an unknown code keeps the message and drops only the tail.
 */
export function plainOsErrors(text: string, os: typeof Deno.build.os = Deno.build.os): string {
  const table = OS_ERRORS[os === "windows" ? "windows" : "linux"]!;
  return text.replace(
    /([A-Za-z][^():]*?)?\s*\(os error (\d+)\)/g,
    (_all, before: string | undefined, code) => {
      const words = table[Number(code)];
      // The text before the code is the operating system's own message for it (strerror / FormatMessage).
      return words ?? (before ?? "").trim();
    },
  );
}
