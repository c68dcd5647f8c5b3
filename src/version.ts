/**
 * Product identity, used in the A-ASSOCIATE-AC, the Part 10 meta header and the status page.
 * @module
 */

/** Product version. */
export const VERSION = "0.1.0";

/**
 * Implementation Class UID (PS3.7 D.3.3.2), a UUID-derived UID under the 2.25 root
 * (PS3.5 §B.2), generated once for this product.
 */
export const IMPLEMENTATION_CLASS_UID = "2.25.241140303763781911736684080268560912148";

/** Implementation Version Name (PS3.7 D.3.3.2.3): at most 16 characters. */
export const IMPLEMENTATION_VERSION_NAME = "DICOMGW_0.1.0";
