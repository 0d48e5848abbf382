/**
 * A state value already encoded as JSON, as UTF-8 bytes: the store writes them as they are instead
 * of running JSON.stringify over an object built for the purpose. The engine's panes and held
 * payments are written this way, straight from its own objects with a JsonWriter (building each
 * stored object and stringifying it, then LevelDB's copy of the string into bytes, was a large
 * share of a stolen payment's cost and allocation; docs/benchmarks.md). JSON.stringify of a
 * JsonBytes gives the same JSON (toJSON parses the bytes), so anything that serialises values
 * generically still works.
 */
export class JsonBytes {
  constructor(readonly bytes: Uint8Array) {}

  get text(): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('utf8');
  }

  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}
