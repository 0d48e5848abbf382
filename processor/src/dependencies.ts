/**
 * The services the processor cannot work without, and whether each answers now. Whoever calls a
 * dependency reports it here (`up` after a call that worked, `down` with the error of one that did
 * not); /ready says which are down and why, and metrics follow the events. A dependency that is
 * down is waited for, with retries, by its caller: never a crash, never an unhandled rejection.
 */
import { EventEmitter } from 'node:events';

export const DEPENDENCIES = ['kinesis', 'lease_table', 'state_store'] as const;
export type DependencyName = (typeof DEPENDENCIES)[number];

export interface DependencyState {
  readonly name: DependencyName;
  readonly up: boolean;
  /** Wall-clock epoch ms of the last change. */
  readonly sinceMs: number;
  /** Why it is down (the last error's message), when it is. */
  readonly error?: string;
}

export interface DependencyEvents {
  /** A dependency answered after being down (or for the first time). */
  up: [name: DependencyName];
  /** A call to a dependency failed; emitted for every failure, not only the first. */
  down: [name: DependencyName, error: unknown];
}

export class Dependencies extends EventEmitter<DependencyEvents> {
  readonly #now: () => number;
  readonly #state = new Map<DependencyName, DependencyState>();

  constructor(now: () => number = Date.now) {
    super();
    this.#now = now;
  }

  /** Marks `name` as not known to answer yet (at start, before its first call). */
  expect(name: DependencyName): void {
    if (!this.#state.has(name)) this.#state.set(name, { name, up: false, sinceMs: this.#now(), error: 'not reached yet' });
  }

  up(name: DependencyName): void {
    if (this.#state.get(name)?.up) return;
    this.#state.set(name, { name, up: true, sinceMs: this.#now() });
    this.emit('up', name);
  }

  down(name: DependencyName, error: unknown): void {
    const previous = this.#state.get(name);
    const message = describe(error);
    this.#state.set(name, { name, up: false, sinceMs: previous && !previous.up ? previous.sinceMs : this.#now(), error: message });
    this.emit('down', name, error);
  }

  snapshot(): DependencyState[] {
    return [...this.#state.values()];
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`.slice(0, 300);
  }
  return String(error).slice(0, 300);
}
