/**
 * Tiny hand-made data sets for scripted-peer tests: implicit VR little endian (the DICOM default
 * transfer syntax, PS3.5 §A.1), each element as tag (4 bytes), length (4 bytes), value.
 * Interop tests use real files made by DCMTK instead (scripts/harness/data.ts).
 */

/** CT Image Storage. */
export const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2";
/** Implicit VR Little Endian. */
export const IMPLICIT_VR_LE = "1.2.840.10008.1.2";
/** Explicit VR Little Endian. */
export const EXPLICIT_VR_LE = "1.2.840.10008.1.2.1";

/** Attributes of a test instance. */
export interface TinyInstance {
  sopClassUid?: string;
  sopInstanceUid: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  patientName?: string;
  patientId?: string;
  modality?: string;
  /** Pixel data length in bytes (even), filled with a pattern. */
  pixelBytes?: number;
}

/** Encodes a data set in implicit VR little endian, elements in ascending tag order. */
export function tinyDataset(i: TinyInstance): Uint8Array {
  const text = (s: string, pad: string) => {
    const bytes = new TextEncoder().encode(s);
    if (bytes.length % 2 === 0) return bytes;
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes);
    out[bytes.length] = pad.charCodeAt(0);
    return out;
  };
  const uid = (s: string) => text(s, "\0");
  const str = (s: string) => text(s, " ");
  const pixels = new Uint8Array(i.pixelBytes ?? 64);
  for (let k = 0; k < pixels.length; k++) pixels[k] = (k * 7) & 0xff;
  const elements: [number, number, Uint8Array][] = [
    [0x0008, 0x0016, uid(i.sopClassUid ?? CT_IMAGE_STORAGE)],
    [0x0008, 0x0018, uid(i.sopInstanceUid)],
    [0x0008, 0x0060, str(i.modality ?? "CT")],
    [0x0010, 0x0010, str(i.patientName ?? "TEST^PATIENT")],
    [0x0010, 0x0020, str(i.patientId ?? "PID001")],
    [0x0020, 0x000d, uid(i.studyInstanceUid ?? "1.2.826.0.1.3680043.8.498.1")],
    [0x0020, 0x000e, uid(i.seriesInstanceUid ?? "1.2.826.0.1.3680043.8.498.1.1")],
    [0x7fe0, 0x0010, pixels],
  ];
  const total = elements.reduce((n, [, , v]) => n + 8 + v.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let o = 0;
  for (const [group, element, value] of elements) {
    view.setUint16(o, group, true);
    view.setUint16(o + 2, element, true);
    view.setUint32(o + 4, value.length, true);
    out.set(value, o + 8);
    o += 8 + value.length;
  }
  return out;
}
