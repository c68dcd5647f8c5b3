/**
 * The one error for a data set or Part 10 file that cannot be read (or values that cannot be
 * written): the receiver answers it with 0xC000 Cannot Understand.
 * @module
 */

/**
 * A file or data set that cannot be read, or values that cannot be written. `message` is the
 * full reason for the log (element, offset, lengths); `comment` a short form that fits the
 * C-STORE-RSP Error Comment (0000,0902), at most 64 characters (PS3.7 C.4), when the thrower
 * made one.
 */
export class DatasetError extends Error {
  /** At most 64 characters, for the Error Comment; absent when `message` is all there is. */
  readonly comment: string | undefined;

  constructor(message: string, options?: ErrorOptions & { comment?: string }) {
    super(message, options);
    this.name = "DatasetError";
    this.comment = options?.comment;
  }
}
