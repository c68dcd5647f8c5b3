/**
 * Command sets captured on loopback from DCMTK 3.6.7 (storescu/echoscu → storescp), one
 * element per line: tag (group, element little endian), value length (uint32 LE), value.
 * Implicit VR Little Endian as PS3.7 §6.3.1 requires.
 * @module
 */

/** Hex with `#` comments and whitespace → bytes. */
export function hex(text: string): Uint8Array {
  const digits = text.split("\n").map((line) => line.replace(/#.*$/, "")).join("").replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) throw new Error(`bad hex fixture: ${digits}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

export const SC_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7";
export const SC_SOP_INSTANCE = "1.2.276.0.7230010.3.1.4.8323328.9329.1795840540.749486";

/** C-ECHO-RQ as echoscu sends it (command PDV on presentation context 1). */
export const DCMTK_C_ECHO_RQ = hex(`
  0000 0000 04000000 38000000                  # (0000,0000) UL CommandGroupLength = 56
  0000 0200 12000000                           # (0000,0002) UI AffectedSOPClassUID, 18 bytes
    312e322e3834302e31303030382e312e3100       #   "1.2.840.10008.1.1" + NUL pad
  0000 0001 02000000 3000                      # (0000,0100) US CommandField = 0x0030 C-ECHO-RQ
  0000 1001 02000000 0100                      # (0000,0110) US MessageID = 1
  0000 0008 02000000 0101                      # (0000,0800) US CommandDataSetType = 0x0101 (none)
`);

/** C-ECHO-RSP as storescp answers the request above. */
export const DCMTK_C_ECHO_RSP = hex(`
  0000 0000 04000000 42000000                  # (0000,0000) UL CommandGroupLength = 66
  0000 0200 12000000                           # (0000,0002) UI AffectedSOPClassUID
    312e322e3834302e31303030382e312e3100       #   "1.2.840.10008.1.1" + NUL
  0000 0001 02000000 3080                      # (0000,0100) US CommandField = 0x8030 C-ECHO-RSP
  0000 2001 02000000 0100                      # (0000,0120) US MessageIDBeingRespondedTo = 1
  0000 0008 02000000 0101                      # (0000,0800) US CommandDataSetType = 0x0101
  0000 0009 02000000 0000                      # (0000,0900) US Status = 0x0000 Success
`);

/** C-STORE-RQ as storescu sends a Secondary Capture instance (presentation context 201). */
export const DCMTK_C_STORE_RQ = hex(`
  0000 0000 04000000 88000000                  # (0000,0000) UL CommandGroupLength = 136
  0000 0200 1a000000                           # (0000,0002) UI AffectedSOPClassUID, 26 bytes
    312e322e3834302e31303030382e352e312e342e312e312e3700   # "1.2.840.10008.5.1.4.1.1.7" + NUL
  0000 0001 02000000 0100                      # (0000,0100) US CommandField = 0x0001 C-STORE-RQ
  0000 1001 02000000 0100                      # (0000,0110) US MessageID = 1
  0000 0007 02000000 0000                      # (0000,0700) US Priority = 0 MEDIUM
  0000 0008 02000000 0100                      # (0000,0800) US CommandDataSetType = 0x0001 (present)
  0000 0010 36000000                           # (0000,1000) UI AffectedSOPInstanceUID, 54 bytes
    312e322e3237362e302e373233303031302e332e312e342e38333233   # "1.2.276.0.7230010.3.1.4.8323
    3332382e393332392e313739353834303534302e373439343836       #  328.9329.1795840540.749486" (even, no pad)
`);

/** C-STORE-RSP (Success) as storescp answers the request above. */
export const DCMTK_C_STORE_RSP = hex(`
  0000 0000 04000000 88000000                  # (0000,0000) UL CommandGroupLength = 136
  0000 0200 1a000000                           # (0000,0002) UI AffectedSOPClassUID
    312e322e3834302e31303030382e352e312e342e312e312e3700
  0000 0001 02000000 0180                      # (0000,0100) US CommandField = 0x8001 C-STORE-RSP
  0000 2001 02000000 0100                      # (0000,0120) US MessageIDBeingRespondedTo = 1
  0000 0008 02000000 0101                      # (0000,0800) US CommandDataSetType = 0x0101
  0000 0009 02000000 0000                      # (0000,0900) US Status = 0x0000
  0000 0010 36000000                           # (0000,1000) UI AffectedSOPInstanceUID
    312e322e3237362e302e373233303031302e332e312e342e38333233
    3332382e393332392e313739353834303534302e373439343836
`);
