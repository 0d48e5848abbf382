/**
 * Writes JSON text as UTF-8 bytes, piece by piece, into one growing buffer. The processor's hot
 * outputs (alerts and summaries to Kinesis, panes and held payments to LevelDB) have fixed shapes,
 * so they are written field by field here instead of being built as JS strings first: a template
 * string is a chain of pieces that is flattened and then copied again into bytes, and that was a
 * large share of a stolen payment's cost and of what the processor allocated (docs/benchmarks.md).
 *
 * A piece written is never moved: when the buffer is full a new one is started, and the bytes
 * written so far are copied into it, so a view taken earlier (`since`) keeps its bytes.
 */
export class JsonWriter {
  buf: Buffer;
  pos = 0;

  constructor(capacity = 1024) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(capacity, 1024));
  }

  #room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // Earlier views keep the old buffer, which still holds their bytes.
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** The bytes written from `start` on, as a view (it stays valid as more is written). */
  since(start: number): Buffer {
    return this.buf.subarray(start, this.pos);
  }

  /**
   * A string that should be ASCII (ids, card digits, ISO instants, currency codes, or text the
   * caller built), copied char by char; were one not, it is written again as UTF-8, so the bytes
   * never depend on that.
   */
  ascii(s: string): void {
    this.#room(s.length);
    const buf = this.buf;
    let pos = this.pos;
    let bits = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      bits |= c;
      buf[pos++] = c;
    }
    if (bits > 0x7f) this.utf8(s);
    else this.pos = pos;
  }

  /** Any string, as UTF-8 (no quoting). */
  utf8(s: string): void {
    this.#room(Buffer.byteLength(s, 'utf8'));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /**
   * `s` as a JSON string literal, exactly JSON.stringify's: printable ASCII without quote or
   * backslash is copied as it is (merchant ids nearly always are); anything else goes through
   * JSON.stringify.
   */
  string(s: string): void {
    this.#room(s.length + 2);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.utf8(JSON.stringify(s));
        return;
      }
      buf[pos++] = c;
    }
    buf[pos++] = 0x22;
    this.pos = pos;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    this.#room(n);
    const buf = this.buf;
    const pos = this.pos;
    // Most pieces are a fixed key of 5-30 bytes; up to 16 a loop beats TypedArray.set's call.
    if (n <= 16) for (let i = 0; i < n; i++) buf[pos + i] = b[i]!;
    else buf.set(b, pos);
    this.pos = pos + n;
  }

  /** One byte (a bracket, a comma, a quote). */
  byte(c: number): void {
    this.#room(1);
    this.buf[this.pos++] = c;
  }

  /**
   * JSON.stringify's form of a number (String's for a finite one). The numbers the processor
   * writes are counts, epoch milliseconds and amounts with at most two decimals: those are written
   * digit by digit, with no string made; any other number goes through String.
   */
  number(n: number): void {
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n) {
      this.#digits(n);
      return;
    }
    if (n > 0 && n < 1e13) {
      const hundredths = Math.round(n * 100);
      // n is the double nearest to hundredths / 100, so its shortest form (String's) is that
      // decimal: below 1e13 doubles are much closer together than 0.01.
      if (hundredths / 100 === n) {
        const whole = Math.floor(hundredths / 100);
        const cents = hundredths - whole * 100;
        this.#digits(whole);
        this.#room(3);
        const buf = this.buf;
        buf[this.pos++] = 0x2e;
        const tenths = Math.floor(cents / 10);
        buf[this.pos++] = 0x30 + tenths;
        if (cents !== tenths * 10) buf[this.pos++] = 0x30 + (cents - tenths * 10);
        return;
      }
    }
    // NaN and the infinities as JSON.stringify writes them (JSON has no such numbers).
    this.ascii(Number.isFinite(n) ? String(n) : 'null');
  }

  /** A non-negative safe integer's decimal digits. */
  #digits(n: number): void {
    if (n < 0x8000_0000) {
      this.#smallDigits(n);
      return;
    }
    // Epoch milliseconds and the like: two parts that each fit int32 arithmetic (hi < 2^53 / 10^8).
    const hi = Math.floor(n / 100_000_000);
    this.#smallDigits(hi);
    let x = n - hi * 100_000_000;
    this.#room(8);
    const buf = this.buf;
    for (let at = this.pos + 7; at >= this.pos; at--) {
      const q = (x / 10) | 0;
      buf[at] = 0x30 + x - q * 10;
      x = q;
    }
    this.pos += 8;
  }

  /** The digits of an integer in [0, 2^31), in int32 arithmetic (a division by 10 is a multiply). */
  #smallDigits(n: number): void {
    let digits = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
    this.#room(digits);
    const buf = this.buf;
    let x = n;
    for (let at = this.pos + digits - 1; at >= this.pos; at--) {
      const q = (x / 10) | 0;
      buf[at] = 0x30 + x - q * 10;
      x = q;
    }
    this.pos += digits;
  }
}
