/**
 * DICOM UID registry: the transfer syntaxes of PS3.6 Table A-1 the gateway knows, the storage SOP
 * classes (PS3.4 Annex B and the other C-STORE-based storage service classes) and the SOP classes
 * that are not storage and that a storage SCP must refuse. Pure data and small lookups.
 *
 * Names follow PS3.6 Table A-1. Retired UIDs are kept: old modalities still send them.
 * @module
 */

/** What a transfer syntax means for the encoding of a data set (PS3.5 §10 and Annex A). */
export interface TransferSyntaxInfo {
  /** The transfer syntax UID. */
  uid: string;
  /** The PS3.6 Table A-1 name. */
  name: string;
  /** Explicit VR encoding (false only for Implicit VR Little Endian). */
  explicitVr: boolean;
  /** Little endian byte order (false only for the retired Explicit VR Big Endian). */
  littleEndian: boolean;
  /** The whole data set is deflated (PS3.5 A.5). */
  deflated: boolean;
  /** Pixel data is encapsulated (PS3.5 A.4): compressed or fragmented frames. */
  encapsulated: boolean;
  /** The compression may lose information (PS3.5 A.4 lossy processes, video codecs). */
  lossy: boolean;
}

/** Implicit VR Little Endian, the default transfer syntax (PS3.5 A.1). */
export const ImplicitVrLittleEndian = "1.2.840.10008.1.2";
/** Explicit VR Little Endian (PS3.5 A.2). */
export const ExplicitVrLittleEndian = "1.2.840.10008.1.2.1";
/** Explicit VR Big Endian, retired but still accepted (PS3.5 A.3). */
export const ExplicitVrBigEndian = "1.2.840.10008.1.2.2";
/** Deflated Explicit VR Little Endian (PS3.5 A.5). */
export const DeflatedExplicitVrLittleEndian = "1.2.840.10008.1.2.1.99";

/** The Verification SOP Class (PS3.4 Annex A), used by C-ECHO. */
export const VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1";

type Flags = "native" | "deflated" | "lossless" | "lossy" | "referenced" | "referencedDeflate";

function ts(uid: string, name: string, kind: Flags): TransferSyntaxInfo {
  return {
    uid,
    name,
    explicitVr: true,
    littleEndian: true,
    deflated: kind === "deflated" || kind === "referencedDeflate",
    encapsulated: kind === "lossless" || kind === "lossy",
    lossy: kind === "lossy",
  };
}

/**
 * PS3.6 Table A-1 transfer syntaxes usable in C-STORE. Left out: the retired JPEG processes
 * (hierarchical, spectral selection, 3/5 and 15), RFC 2557 MIME and XML encodings (never network
 * syntaxes) and SMPTE ST 2110 (PS3.22 real-time video only). JPIP Referenced syntaxes carry no
 * pixel data (it is fetched from a JPIP server) so they are neither encapsulated nor lossy.
 */
const TRANSFER_SYNTAX_LIST: readonly TransferSyntaxInfo[] = [
  {
    uid: ImplicitVrLittleEndian,
    name: "Implicit VR Little Endian",
    explicitVr: false,
    littleEndian: true,
    deflated: false,
    encapsulated: false,
    lossy: false,
  },
  ts(ExplicitVrLittleEndian, "Explicit VR Little Endian", "native"),
  ts("1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", "lossless"),
  ts(DeflatedExplicitVrLittleEndian, "Deflated Explicit VR Little Endian", "deflated"),
  { ...ts(ExplicitVrBigEndian, "Explicit VR Big Endian (Retired)", "native"), littleEndian: false },
  ts("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", "lossy"),
  ts("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 and 4)", "lossy"),
  ts("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", "lossless"),
  ts(
    "1.2.840.10008.1.2.4.70",
    "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
    "lossless",
  ),
  ts("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", "lossless"),
  ts("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", "lossy"),
  ts("1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", "lossless"),
  ts("1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", "lossy"),
  ts(
    "1.2.840.10008.1.2.4.92",
    "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
    "lossless",
  ),
  ts("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", "lossy"),
  ts("1.2.840.10008.1.2.4.94", "JPIP Referenced", "referenced"),
  ts("1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", "referencedDeflate"),
  ts("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", "lossy"),
  ts("1.2.840.10008.1.2.4.100.1", "Fragmentable MPEG2 Main Profile / Main Level", "lossy"),
  ts("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", "lossy"),
  ts("1.2.840.10008.1.2.4.101.1", "Fragmentable MPEG2 Main Profile / High Level", "lossy"),
  ts("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", "lossy"),
  ts("1.2.840.10008.1.2.4.102.1", "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1", "lossy"),
  ts("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", "lossy"),
  ts(
    "1.2.840.10008.1.2.4.103.1",
    "Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
    "lossy",
  ),
  ts("1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", "lossy"),
  ts(
    "1.2.840.10008.1.2.4.104.1",
    "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
    "lossy",
  ),
  ts("1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", "lossy"),
  ts(
    "1.2.840.10008.1.2.4.105.1",
    "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
    "lossy",
  ),
  ts("1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", "lossy"),
  ts(
    "1.2.840.10008.1.2.4.106.1",
    "Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
    "lossy",
  ),
  ts("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", "lossy"),
  ts("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", "lossy"),
  ts("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", "lossless"),
  // The JPEG bit stream it recompresses was itself lossy (baseline/extended JPEG).
  ts("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", "lossy"),
  ts("1.2.840.10008.1.2.4.112", "JPEG XL", "lossy"),
  ts("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", "lossless"),
  ts(
    "1.2.840.10008.1.2.4.202",
    "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
    "lossless",
  ),
  ts("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", "lossy"),
  ts("1.2.840.10008.1.2.4.204", "JPIP HTJ2K Referenced", "referenced"),
  ts("1.2.840.10008.1.2.4.205", "JPIP HTJ2K Referenced Deflate", "referencedDeflate"),
  ts("1.2.840.10008.1.2.5", "RLE Lossless", "lossless"),
  ts("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", "lossless"),
];

const TRANSFER_SYNTAXES: ReadonlyMap<string, TransferSyntaxInfo> = new Map(
  TRANSFER_SYNTAX_LIST.map((info) => [info.uid, Object.freeze(info)]),
);

/** The registry entry for a transfer syntax UID, or undefined when the gateway does not know it. */
export function transferSyntaxInfo(uid: string): TransferSyntaxInfo | undefined {
  return TRANSFER_SYNTAXES.get(uid);
}

/** Every transfer syntax in the registry, in PS3.6 order. */
export function knownTransferSyntaxes(): readonly TransferSyntaxInfo[] {
  return [...TRANSFER_SYNTAXES.values()];
}

/** How a data set is encoded on the wire and in a file, as far as reading its elements goes. */
export interface DatasetEncoding {
  /** Explicit VR (PS3.5 §7.1.2) rather than implicit (§7.1.3). */
  explicitVr: boolean;
  /** Little endian byte order (PS3.5 §7.3). */
  littleEndian: boolean;
  /** The data set after the File Meta Information is one raw deflate stream (PS3.5 A.5). */
  deflated: boolean;
}

/**
 * The data set encoding a transfer syntax names. A transfer syntax the registry does not know
 * is taken as Explicit VR Little Endian, not deflated: PS3.5 §10 has every encapsulated syntax
 * use it, and every non-encapsulated one is listed.
 */
export function datasetEncoding(uid: string): DatasetEncoding {
  const info = transferSyntaxInfo(uid);
  return {
    explicitVr: info?.explicitVr ?? true,
    littleEndian: info?.littleEndian ?? true,
    deflated: info?.deflated ?? false,
  };
}

/**
 * The acceptor's preference among proposed transfer syntaxes (lower is better), or undefined for
 * a syntax the registry does not know. Order: lossless encapsulated (compressed) syntaxes, then
 * Explicit VR Little Endian, Implicit VR Little Endian, Deflated, Explicit VR Big Endian, JPIP
 * referenced (+ deflate: no pixel data in the object), and last the lossy ones. For Verification
 * (`verification` true; C-ECHO carries no data set) the two plain little endian syntaxes come first.
 */
export function transferSyntaxPreference(uid: string, verification: boolean): number | undefined {
  const info = transferSyntaxInfo(uid);
  if (info === undefined) return undefined;
  if (verification) {
    if (uid === ExplicitVrLittleEndian) return 0;
    if (uid === ImplicitVrLittleEndian) return 1;
  }
  if (info.encapsulated && !info.lossy) return 2;
  if (uid === ExplicitVrLittleEndian) return 3;
  if (uid === ImplicitVrLittleEndian) return 4;
  if (uid === DeflatedExplicitVrLittleEndian) return 5;
  if (uid === ExplicitVrBigEndian) return 6;
  if (!info.lossy) return 7;
  return 8;
}

const STORAGE_PREFIX = "1.2.840.10008.5.1.4.1.1.";

/**
 * Storage SOP classes: PS3.4 Annex B (Storage Service Class), plus the Non-Patient Object Storage
 * classes (PS3.4 Annex GG: hanging protocols, color palettes, implant templates, protocols,
 * inventories) and the RT delivery instruction storage classes, which are also sent with C-STORE.
 * Retired classes are included and marked "(Retired)".
 */
export const STORAGE_SOP_CLASSES: ReadonlyMap<string, string> = new Map<string, string>([
  ...([
    ["1", "Computed Radiography Image Storage"],
    ["1.1", "Digital X-Ray Image Storage - For Presentation"],
    ["1.1.1", "Digital X-Ray Image Storage - For Processing"],
    ["1.2", "Digital Mammography X-Ray Image Storage - For Presentation"],
    ["1.2.1", "Digital Mammography X-Ray Image Storage - For Processing"],
    ["1.3", "Digital Intra-Oral X-Ray Image Storage - For Presentation"],
    ["1.3.1", "Digital Intra-Oral X-Ray Image Storage - For Processing"],
    ["2", "CT Image Storage"],
    ["2.1", "Enhanced CT Image Storage"],
    ["2.2", "Legacy Converted Enhanced CT Image Storage"],
    ["3", "Ultrasound Multi-frame Image Storage (Retired)"],
    ["3.1", "Ultrasound Multi-frame Image Storage"],
    ["4", "MR Image Storage"],
    ["4.1", "Enhanced MR Image Storage"],
    ["4.2", "MR Spectroscopy Storage"],
    ["4.3", "Enhanced MR Color Image Storage"],
    ["4.4", "Legacy Converted Enhanced MR Image Storage"],
    ["5", "Nuclear Medicine Image Storage (Retired)"],
    ["6", "Ultrasound Image Storage (Retired)"],
    ["6.1", "Ultrasound Image Storage"],
    ["6.2", "Enhanced US Volume Storage"],
    ["6.3", "Photoacoustic Image Storage"],
    ["7", "Secondary Capture Image Storage"],
    ["7.1", "Multi-frame Single Bit Secondary Capture Image Storage"],
    ["7.2", "Multi-frame Grayscale Byte Secondary Capture Image Storage"],
    ["7.3", "Multi-frame Grayscale Word Secondary Capture Image Storage"],
    ["7.4", "Multi-frame True Color Secondary Capture Image Storage"],
    ["8", "Standalone Overlay Storage (Retired)"],
    ["9", "Standalone Curve Storage (Retired)"],
    ["9.1", "Waveform Storage - Trial (Retired)"],
    ["9.1.1", "12-lead ECG Waveform Storage"],
    ["9.1.2", "General ECG Waveform Storage"],
    ["9.1.3", "Ambulatory ECG Waveform Storage"],
    ["9.1.4", "General 32-bit ECG Waveform Storage"],
    ["9.2.1", "Hemodynamic Waveform Storage"],
    ["9.3.1", "Cardiac Electrophysiology Waveform Storage"],
    ["9.4.1", "Basic Voice Audio Waveform Storage"],
    ["9.4.2", "General Audio Waveform Storage"],
    ["9.5.1", "Arterial Pulse Waveform Storage"],
    ["9.6.1", "Respiratory Waveform Storage"],
    ["9.6.2", "Multi-channel Respiratory Waveform Storage"],
    ["9.7.1", "Routine Scalp Electroencephalogram Waveform Storage"],
    ["9.7.2", "Electromyogram Waveform Storage"],
    ["9.7.3", "Electrooculogram Waveform Storage"],
    ["9.7.4", "Sleep Electroencephalogram Waveform Storage"],
    ["9.8.1", "Body Position Waveform Storage"],
    ["10", "Standalone Modality LUT Storage (Retired)"],
    ["11", "Standalone VOI LUT Storage (Retired)"],
    ["11.1", "Grayscale Softcopy Presentation State Storage"],
    ["11.2", "Color Softcopy Presentation State Storage"],
    ["11.3", "Pseudo-Color Softcopy Presentation State Storage"],
    ["11.4", "Blending Softcopy Presentation State Storage"],
    ["11.5", "XA/XRF Grayscale Softcopy Presentation State Storage"],
    ["11.6", "Grayscale Planar MPR Volumetric Presentation State Storage"],
    ["11.7", "Compositing Planar MPR Volumetric Presentation State Storage"],
    ["11.8", "Advanced Blending Presentation State Storage"],
    ["11.9", "Volume Rendering Volumetric Presentation State Storage"],
    ["11.10", "Segmented Volume Rendering Volumetric Presentation State Storage"],
    ["11.11", "Multiple Volume Rendering Volumetric Presentation State Storage"],
    ["11.12", "Variable Modality LUT Softcopy Presentation State Storage"],
    ["12.1", "X-Ray Angiographic Image Storage"],
    ["12.1.1", "Enhanced XA Image Storage"],
    ["12.2", "X-Ray Radiofluoroscopic Image Storage"],
    ["12.2.1", "Enhanced XRF Image Storage"],
    ["12.3", "X-Ray Angiographic Bi-Plane Image Storage (Retired)"],
    ["13.1.1", "X-Ray 3D Angiographic Image Storage"],
    ["13.1.2", "X-Ray 3D Craniofacial Image Storage"],
    ["13.1.3", "Breast Tomosynthesis Image Storage"],
    ["13.1.4", "Breast Projection X-Ray Image Storage - For Presentation"],
    ["13.1.5", "Breast Projection X-Ray Image Storage - For Processing"],
    ["14.1", "Intravascular Optical Coherence Tomography Image Storage - For Presentation"],
    ["14.2", "Intravascular Optical Coherence Tomography Image Storage - For Processing"],
    ["20", "Nuclear Medicine Image Storage"],
    ["30", "Parametric Map Storage"],
    ["66", "Raw Data Storage"],
    ["66.1", "Spatial Registration Storage"],
    ["66.2", "Spatial Fiducials Storage"],
    ["66.3", "Deformable Spatial Registration Storage"],
    ["66.4", "Segmentation Storage"],
    ["66.5", "Surface Segmentation Storage"],
    ["66.6", "Tractography Results Storage"],
    ["66.7", "Label Map Segmentation Storage"],
    ["66.8", "Height Map Segmentation Storage"],
    ["67", "Real World Value Mapping Storage"],
    ["68.1", "Surface Scan Mesh Storage"],
    ["68.2", "Surface Scan Point Cloud Storage"],
    ["77.1", "VL Image Storage - Trial (Retired)"],
    ["77.2", "VL Multi-frame Image Storage - Trial (Retired)"],
    ["77.1.1", "VL Endoscopic Image Storage"],
    ["77.1.1.1", "Video Endoscopic Image Storage"],
    ["77.1.2", "VL Microscopic Image Storage"],
    ["77.1.2.1", "Video Microscopic Image Storage"],
    ["77.1.3", "VL Slide-Coordinates Microscopic Image Storage"],
    ["77.1.4", "VL Photographic Image Storage"],
    ["77.1.4.1", "Video Photographic Image Storage"],
    ["77.1.5.1", "Ophthalmic Photography 8 Bit Image Storage"],
    ["77.1.5.2", "Ophthalmic Photography 16 Bit Image Storage"],
    ["77.1.5.3", "Stereometric Relationship Storage"],
    ["77.1.5.4", "Ophthalmic Tomography Image Storage"],
    ["77.1.5.5", "Wide Field Ophthalmic Photography Stereographic Projection Image Storage"],
    ["77.1.5.6", "Wide Field Ophthalmic Photography 3D Coordinates Image Storage"],
    ["77.1.5.7", "Ophthalmic Optical Coherence Tomography En Face Image Storage"],
    ["77.1.5.8", "Ophthalmic Optical Coherence Tomography B-scan Volume Analysis Storage"],
    ["77.1.6", "VL Whole Slide Microscopy Image Storage"],
    ["77.1.7", "Dermoscopic Photography Image Storage"],
    ["77.1.8", "Confocal Microscopy Image Storage"],
    ["77.1.9", "Confocal Microscopy Tiled Pyramidal Image Storage"],
    ["78.1", "Lensometry Measurements Storage"],
    ["78.2", "Autorefraction Measurements Storage"],
    ["78.3", "Keratometry Measurements Storage"],
    ["78.4", "Subjective Refraction Measurements Storage"],
    ["78.5", "Visual Acuity Measurements Storage"],
    ["78.6", "Spectacle Prescription Report Storage"],
    ["78.7", "Ophthalmic Axial Measurements Storage"],
    ["78.8", "Intraocular Lens Calculations Storage"],
    ["79.1", "Macular Grid Thickness and Volume Report Storage"],
    ["80.1", "Ophthalmic Visual Field Static Perimetry Measurements Storage"],
    ["81.1", "Ophthalmic Thickness Map Storage"],
    ["82.1", "Corneal Topography Map Storage"],
    ["88.1", "Text SR Storage - Trial (Retired)"],
    ["88.2", "Audio SR Storage - Trial (Retired)"],
    ["88.3", "Detail SR Storage - Trial (Retired)"],
    ["88.4", "Comprehensive SR Storage - Trial (Retired)"],
    ["88.11", "Basic Text SR Storage"],
    ["88.22", "Enhanced SR Storage"],
    ["88.33", "Comprehensive SR Storage"],
    ["88.34", "Comprehensive 3D SR Storage"],
    ["88.35", "Extensible SR Storage"],
    ["88.40", "Procedure Log Storage"],
    ["88.50", "Mammography CAD SR Storage"],
    ["88.59", "Key Object Selection Document Storage"],
    ["88.65", "Chest CAD SR Storage"],
    ["88.67", "X-Ray Radiation Dose SR Storage"],
    ["88.68", "Radiopharmaceutical Radiation Dose SR Storage"],
    ["88.69", "Colon CAD SR Storage"],
    ["88.70", "Implantation Plan SR Storage"],
    ["88.71", "Acquisition Context SR Storage"],
    ["88.72", "Simplified Adult Echo SR Storage"],
    ["88.73", "Patient Radiation Dose SR Storage"],
    ["88.74", "Planned Imaging Agent Administration SR Storage"],
    ["88.75", "Performed Imaging Agent Administration SR Storage"],
    ["88.76", "Enhanced X-Ray Radiation Dose SR Storage"],
    ["88.77", "Waveform Annotation SR Storage"],
    ["90.1", "Content Assessment Results Storage"],
    ["91.1", "Microscopy Bulk Simple Annotations Storage"],
    ["104.1", "Encapsulated PDF Storage"],
    ["104.2", "Encapsulated CDA Storage"],
    ["104.3", "Encapsulated STL Storage"],
    ["104.4", "Encapsulated OBJ Storage"],
    ["104.5", "Encapsulated MTL Storage"],
    ["128", "Positron Emission Tomography Image Storage"],
    ["128.1", "Legacy Converted Enhanced PET Image Storage"],
    ["129", "Standalone PET Curve Storage (Retired)"],
    ["130", "Enhanced PET Image Storage"],
    ["131", "Basic Structured Display Storage"],
    ["200.1", "CT Defined Procedure Protocol Storage"],
    ["200.2", "CT Performed Procedure Protocol Storage"],
    ["200.3", "Protocol Approval Storage"],
    ["200.7", "XA Defined Procedure Protocol Storage"],
    ["200.8", "XA Performed Procedure Protocol Storage"],
    ["201.1", "Inventory Storage"],
    ["481.1", "RT Image Storage"],
    ["481.2", "RT Dose Storage"],
    ["481.3", "RT Structure Set Storage"],
    ["481.4", "RT Beams Treatment Record Storage"],
    ["481.5", "RT Plan Storage"],
    ["481.6", "RT Brachy Treatment Record Storage"],
    ["481.7", "RT Treatment Summary Record Storage"],
    ["481.8", "RT Ion Plan Storage"],
    ["481.9", "RT Ion Beams Treatment Record Storage"],
    ["481.10", "RT Physician Intent Storage"],
    ["481.11", "RT Segment Annotation Storage"],
    ["481.12", "RT Radiation Set Storage"],
    ["481.13", "C-Arm Photon-Electron Radiation Storage"],
    ["481.14", "Tomotherapeutic Radiation Storage"],
    ["481.15", "Robotic-Arm Radiation Storage"],
    ["481.16", "RT Radiation Record Set Storage"],
    ["481.17", "RT Radiation Salvage Record Storage"],
    ["481.18", "Tomotherapeutic Radiation Record Storage"],
    ["481.19", "C-Arm Photon-Electron Radiation Record Storage"],
    ["481.20", "Robotic Radiation Record Storage"],
    ["481.21", "RT Radiation Set Delivery Instruction Storage"],
    ["481.22", "RT Treatment Preparation Storage"],
    ["481.23", "Enhanced RT Image Storage"],
    ["481.24", "Enhanced Continuous RT Image Storage"],
    ["481.25", "RT Patient Position Acquisition Instruction Storage"],
    ["501.1", "DICOS CT Image Storage"],
    ["501.2.1", "DICOS Digital X-Ray Image Storage - For Presentation"],
    ["501.2.2", "DICOS Digital X-Ray Image Storage - For Processing"],
    ["501.3", "DICOS Threat Detection Report Storage"],
    ["501.4", "DICOS 2D AIT Storage"],
    ["501.5", "DICOS 3D AIT Storage"],
    ["501.6", "DICOS Quadrupole Resonance (QR) Storage"],
    ["601.1", "Eddy Current Image Storage"],
    ["601.2", "Eddy Current Multi-frame Image Storage"],
    ["601.3", "Thermography Image Storage"],
    ["601.4", "Thermography Multi-frame Image Storage"],
  ] as const).map(([suffix, name]): [string, string] => [STORAGE_PREFIX + suffix, name]),
  ["1.2.840.10008.5.1.1.27", "Stored Print Storage SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.29", "Hardcopy Grayscale Image Storage SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.30", "Hardcopy Color Image Storage SOP Class (Retired)"],
  ["1.2.840.10008.5.1.4.34.1", "RT Beams Delivery Instruction Storage - Trial (Retired)"],
  ["1.2.840.10008.5.1.4.34.7", "RT Beams Delivery Instruction Storage"],
  ["1.2.840.10008.5.1.4.34.10", "RT Brachy Application Setup Delivery Instruction Storage"],
  ["1.2.840.10008.5.1.4.38.1", "Hanging Protocol Storage"],
  ["1.2.840.10008.5.1.4.39.1", "Color Palette Storage"],
  ["1.2.840.10008.5.1.4.43.1", "Generic Implant Template Storage"],
  ["1.2.840.10008.5.1.4.44.1", "Implant Assembly Template Storage"],
  ["1.2.840.10008.5.1.4.45.1", "Implant Template Group Storage"],
]);

/** Non-storage SOP classes with their PS3.6 names (kept private; the set below is the export). */
const NON_STORAGE_NAMES: ReadonlyMap<string, string> = new Map<string, string>([
  // Basic Study Content Notification, Storage Commitment, event logging (PS3.4 Annex J, H, P)
  ["1.2.840.10008.1.9", "Basic Study Content Notification SOP Class (Retired)"],
  ["1.2.840.10008.1.20.1", "Storage Commitment Push Model SOP Class"],
  ["1.2.840.10008.1.20.2", "Storage Commitment Pull Model SOP Class (Retired)"],
  ["1.2.840.10008.1.40", "Procedural Event Logging SOP Class"],
  ["1.2.840.10008.1.42", "Substance Administration Logging SOP Class"],
  // Media Storage Directory (DICOMDIR) is a file-set object, never sent by C-STORE (PS3.10)
  ["1.2.840.10008.1.3.10", "Media Storage Directory Storage"],
  // Detached management (retired) and Modality Performed Procedure Step (PS3.4 Annex F)
  ["1.2.840.10008.3.1.2.1.1", "Detached Patient Management SOP Class (Retired)"],
  ["1.2.840.10008.3.1.2.1.4", "Detached Patient Management Meta SOP Class (Retired)"],
  ["1.2.840.10008.3.1.2.2.1", "Detached Visit Management SOP Class (Retired)"],
  ["1.2.840.10008.3.1.2.3.1", "Detached Study Management SOP Class (Retired)"],
  ["1.2.840.10008.3.1.2.3.2", "Study Component Management SOP Class (Retired)"],
  ["1.2.840.10008.3.1.2.3.3", "Modality Performed Procedure Step SOP Class"],
  ["1.2.840.10008.3.1.2.3.4", "Modality Performed Procedure Step Retrieve SOP Class"],
  ["1.2.840.10008.3.1.2.3.5", "Modality Performed Procedure Step Notification SOP Class"],
  ["1.2.840.10008.3.1.2.5.1", "Detached Results Management SOP Class (Retired)"],
  ["1.2.840.10008.3.1.2.5.4", "Detached Results Management Meta SOP Class (Retired)"],
  ["1.2.840.10008.3.1.2.5.5", "Detached Study Management Meta SOP Class (Retired)"],
  ["1.2.840.10008.3.1.2.6.1", "Detached Interpretation Management SOP Class (Retired)"],
  // Print Management (PS3.4 Annex H)
  ["1.2.840.10008.5.1.1.1", "Basic Film Session SOP Class"],
  ["1.2.840.10008.5.1.1.2", "Basic Film Box SOP Class"],
  ["1.2.840.10008.5.1.1.4", "Basic Grayscale Image Box SOP Class"],
  ["1.2.840.10008.5.1.1.4.1", "Basic Color Image Box SOP Class"],
  ["1.2.840.10008.5.1.1.4.2", "Referenced Image Box SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.9", "Basic Grayscale Print Management Meta SOP Class"],
  ["1.2.840.10008.5.1.1.9.1", "Referenced Grayscale Print Management Meta SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.14", "Print Job SOP Class"],
  ["1.2.840.10008.5.1.1.15", "Basic Annotation Box SOP Class"],
  ["1.2.840.10008.5.1.1.16", "Printer SOP Class"],
  ["1.2.840.10008.5.1.1.16.376", "Printer Configuration Retrieval SOP Class"],
  ["1.2.840.10008.5.1.1.18", "Basic Color Print Management Meta SOP Class"],
  ["1.2.840.10008.5.1.1.18.1", "Referenced Color Print Management Meta SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.22", "VOI LUT Box SOP Class"],
  ["1.2.840.10008.5.1.1.23", "Presentation LUT SOP Class"],
  ["1.2.840.10008.5.1.1.24", "Image Overlay Box SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.24.1", "Basic Print Image Overlay Box SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.26", "Print Queue Management SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.31", "Pull Print Request SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.32", "Pull Stored Print Management Meta SOP Class (Retired)"],
  ["1.2.840.10008.5.1.1.33", "Media Creation Management SOP Class UID"],
  ["1.2.840.10008.5.1.1.40", "Display System SOP Class"],
  // Query/Retrieve (PS3.4 Annex C) and the Q/R of non-patient objects and protocols
  ["1.2.840.10008.5.1.4.1.1.200.4", "Protocol Approval Information Model - FIND"],
  ["1.2.840.10008.5.1.4.1.1.200.5", "Protocol Approval Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.1.1.200.6", "Protocol Approval Information Model - GET"],
  ["1.2.840.10008.5.1.4.1.1.201.2", "Inventory - FIND"],
  ["1.2.840.10008.5.1.4.1.1.201.3", "Inventory - MOVE"],
  ["1.2.840.10008.5.1.4.1.1.201.4", "Inventory - GET"],
  ["1.2.840.10008.5.1.4.1.1.201.5", "Inventory Creation"],
  ["1.2.840.10008.5.1.4.1.1.201.6", "Repository Query"],
  ["1.2.840.10008.5.1.4.1.2.1.1", "Patient Root Query/Retrieve Information Model - FIND"],
  ["1.2.840.10008.5.1.4.1.2.1.2", "Patient Root Query/Retrieve Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.1.2.1.3", "Patient Root Query/Retrieve Information Model - GET"],
  ["1.2.840.10008.5.1.4.1.2.2.1", "Study Root Query/Retrieve Information Model - FIND"],
  ["1.2.840.10008.5.1.4.1.2.2.2", "Study Root Query/Retrieve Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.1.2.2.3", "Study Root Query/Retrieve Information Model - GET"],
  ["1.2.840.10008.5.1.4.1.2.3.1", "Patient/Study Only Query/Retrieve Information Model - FIND (Retired)"],
  ["1.2.840.10008.5.1.4.1.2.3.2", "Patient/Study Only Query/Retrieve Information Model - MOVE (Retired)"],
  ["1.2.840.10008.5.1.4.1.2.3.3", "Patient/Study Only Query/Retrieve Information Model - GET (Retired)"],
  ["1.2.840.10008.5.1.4.1.2.4.2", "Composite Instance Root Retrieve - MOVE"],
  ["1.2.840.10008.5.1.4.1.2.4.3", "Composite Instance Root Retrieve - GET"],
  ["1.2.840.10008.5.1.4.1.2.5.3", "Composite Instance Retrieve Without Bulk Data - GET"],
  ["1.2.840.10008.5.1.4.20.1", "Defined Procedure Protocol Information Model - FIND"],
  ["1.2.840.10008.5.1.4.20.2", "Defined Procedure Protocol Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.20.3", "Defined Procedure Protocol Information Model - GET"],
  // Worklists, instance availability, unified procedure step (PS3.4 Annex K, R, CC)
  ["1.2.840.10008.5.1.4.31", "Modality Worklist Information Model - FIND"],
  ["1.2.840.10008.5.1.4.32", "General Purpose Worklist Management Meta SOP Class (Retired)"],
  ["1.2.840.10008.5.1.4.32.1", "General Purpose Worklist Information Model - FIND (Retired)"],
  ["1.2.840.10008.5.1.4.32.2", "General Purpose Scheduled Procedure Step SOP Class (Retired)"],
  ["1.2.840.10008.5.1.4.32.3", "General Purpose Performed Procedure Step SOP Class (Retired)"],
  ["1.2.840.10008.5.1.4.33", "Instance Availability Notification SOP Class"],
  ["1.2.840.10008.5.1.4.34.2", "RT Conventional Machine Verification - Trial (Retired)"],
  ["1.2.840.10008.5.1.4.34.3", "RT Ion Machine Verification - Trial (Retired)"],
  ["1.2.840.10008.5.1.4.34.4.1", "Unified Procedure Step - Push SOP Class - Trial (Retired)"],
  ["1.2.840.10008.5.1.4.34.4.2", "Unified Procedure Step - Watch SOP Class - Trial (Retired)"],
  ["1.2.840.10008.5.1.4.34.4.3", "Unified Procedure Step - Pull SOP Class - Trial (Retired)"],
  ["1.2.840.10008.5.1.4.34.4.4", "Unified Procedure Step - Event SOP Class - Trial (Retired)"],
  ["1.2.840.10008.5.1.4.34.6.1", "Unified Procedure Step - Push SOP Class"],
  ["1.2.840.10008.5.1.4.34.6.2", "Unified Procedure Step - Watch SOP Class"],
  ["1.2.840.10008.5.1.4.34.6.3", "Unified Procedure Step - Pull SOP Class"],
  ["1.2.840.10008.5.1.4.34.6.4", "Unified Procedure Step - Event SOP Class"],
  ["1.2.840.10008.5.1.4.34.6.5", "Unified Procedure Step - Query SOP Class"],
  ["1.2.840.10008.5.1.4.34.8", "RT Conventional Machine Verification"],
  ["1.2.840.10008.5.1.4.34.9", "RT Ion Machine Verification"],
  ["1.2.840.10008.5.1.4.37.1", "General Relevant Patient Information Query"],
  ["1.2.840.10008.5.1.4.37.2", "Breast Imaging Relevant Patient Information Query"],
  ["1.2.840.10008.5.1.4.37.3", "Cardiac Relevant Patient Information Query"],
  ["1.2.840.10008.5.1.4.38.2", "Hanging Protocol Information Model - FIND"],
  ["1.2.840.10008.5.1.4.38.3", "Hanging Protocol Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.38.4", "Hanging Protocol Information Model - GET"],
  ["1.2.840.10008.5.1.4.39.2", "Color Palette Query/Retrieve Information Model - FIND"],
  ["1.2.840.10008.5.1.4.39.3", "Color Palette Query/Retrieve Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.39.4", "Color Palette Query/Retrieve Information Model - GET"],
  ["1.2.840.10008.5.1.4.41", "Product Characteristics Query SOP Class"],
  ["1.2.840.10008.5.1.4.42", "Substance Approval Query SOP Class"],
  ["1.2.840.10008.5.1.4.43.2", "Generic Implant Template Information Model - FIND"],
  ["1.2.840.10008.5.1.4.43.3", "Generic Implant Template Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.43.4", "Generic Implant Template Information Model - GET"],
  ["1.2.840.10008.5.1.4.44.2", "Implant Assembly Template Information Model - FIND"],
  ["1.2.840.10008.5.1.4.44.3", "Implant Assembly Template Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.44.4", "Implant Assembly Template Information Model - GET"],
  ["1.2.840.10008.5.1.4.45.2", "Implant Template Group Information Model - FIND"],
  ["1.2.840.10008.5.1.4.45.3", "Implant Template Group Information Model - MOVE"],
  ["1.2.840.10008.5.1.4.45.4", "Implant Template Group Information Model - GET"],
  // Real-Time Communication (PS3.22): RTP streams, never associations
  ["1.2.840.10008.10.1", "Video Endoscopic Image Real-Time Communication"],
  ["1.2.840.10008.10.2", "Video Photographic Image Real-Time Communication"],
  ["1.2.840.10008.10.3", "Audio Waveform Real-Time Communication"],
  ["1.2.840.10008.10.4", "Rendition Selection Document Real-Time Communication"],
]);

/**
 * SOP classes that are not storage: query/retrieve FIND/MOVE/GET models, worklists, MPPS,
 * storage commitment, print management, instance availability, UPS, media storage directory,
 * event logging, and the like. A storage SCP refuses them (result 3, abstract-syntax-not-supported).
 * The Verification SOP class is not in this set: the gateway accepts it.
 */
export const NON_STORAGE_SOP_CLASSES: ReadonlySet<string> = new Set(NON_STORAGE_NAMES.keys());

/** The PS3.6 name of a SOP class, or "Unknown/private SOP class". */
export function sopClassName(uid: string): string {
  if (uid === VERIFICATION_SOP_CLASS) return "Verification SOP Class";
  return STORAGE_SOP_CLASSES.get(uid) ?? NON_STORAGE_NAMES.get(uid) ?? "Unknown/private SOP class";
}

/**
 * Whether `s` is a valid UID (PS3.5 §9.1): 1–64 characters, components of digits 0–9 separated by
 * single dots, no empty component, and no leading zero in a component of more than one digit.
 * Trailing NUL padding is not part of a UID; strip it before asking.
 */
export function isValidUid(s: string): boolean {
  if (s.length < 1 || s.length > 64) return false;
  return /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(s);
}
