/**
 * Sequential reading of a byte stream in exact-length pieces, for walking a data set element by
 * element without holding it whole: a file read in chunks, or the inflated data set of a deflated
 * transfer syntax (PS3.5 §A.5).
 * @module
 */

/** The stream ended before the bytes asked for. */
export class EndOfStream extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EndOfStream";
  }
}

/** Reads exact byte counts from a ReadableStream, keeping only the chunks not yet consumed. */
export class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #position = 0;
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.#position;
  }

  /** Buffers until at least `n` bytes are available or the stream ends; returns what is available. */
  async #fill(n: number): Promise<number> {
    while (this.#buffered < n && !this.#done) {
      const { value, done } = await this.#reader.read();
      if (done) {
        this.#done = true;
        break;
      }
      if (value.length > 0) {
        this.#chunks.push(value);
        this.#buffered += value.length;
      }
    }
    return this.#buffered;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return (await this.#fill(1)) === 0;
  }

  /** The next `n` bytes (a fresh copy when they span chunks). Throws {@link EndOfStream}. */
  async read(n: number): Promise<Uint8Array> {
    if (n === 0) return new Uint8Array(0);
    if ((await this.#fill(n)) < n) {
      throw new EndOfStream(`data set ends at byte ${this.#position + this.#buffered}, ${n} bytes needed`);
    }
    this.#position += n;
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return out;
  }

  /** Skips `n` bytes. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const piece = await this.read(Math.min(left, 1 << 20));
      left -= piece.length;
    }
  }

  /** Stops reading the stream. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
