/**
 * A state value already encoded as JSON: the store writes `text` as it is instead of running
 * JSON.stringify over an object built for the purpose. The engine's panes are written this way,
 * straight from its own objects (building each stored pane and stringifying it was ~8 % of a
 * stolen payment's cost; docs/benchmarks.md). JSON.stringify of a JsonText gives the same JSON
 * (toJSON parses the text), so anything that serialises values generically still works.
 */
export class JsonText {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}
