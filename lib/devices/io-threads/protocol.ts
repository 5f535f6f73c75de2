// Messages between the main thread and an I/O thread. The main thread asks an I/O thread to host a
// device's back-end half (a module export it loads there), then calls that half's methods; each call
// is answered once, with the same token. A hosted half may also report events (e.g. a host-side
// failure) on its own.
import type { SerializedError } from '../../runner/messages';

/** `export function <name>(context: HostContext, args): HostedHalf | Promise<HostedHalf>` in `module`. */
export interface HostedModuleSpec {
  module: string;
  export: string;
  args: unknown;
}

export type HostedMethod = 'pause' | 'resume' | 'quiesce' | 'saveState' | 'restoreState' | 'reconfigure';

export type ToIoThread =
  | { type: 'host'; token: number; id: number; spec: HostedModuleSpec }
  | { type: 'call'; token: number; id: number; method: HostedMethod; argument?: unknown };

export type FromIoThread =
  | { type: 'reply'; token: number; value?: unknown; error?: SerializedError }
  | { type: 'event'; id: number; event: HostedEvent };

export type HostedEvent = { kind: 'error'; error: SerializedError };

/** What a hosted half can do from its thread. */
export interface HostContext {
  /** Reports a host-side failure to the device's main-thread half (it keeps it as its `error`). */
  reportError(error: unknown): void;
}

/** A device's half living on an I/O thread: every method optional, each may return a promise. */
export interface HostedHalf {
  pause?(): void | Promise<void>;
  resume?(): void | Promise<void>;
  /** The last call a half gets: once it resolves the thread forgets the half. */
  quiesce?(): void | Promise<void>;
  saveState?(): unknown;
  restoreState?(state: unknown): void | Promise<void>;
  /** The device's host-side configuration changed (e.g. a disk's backing file): take the new one. */
  reconfigure?(argument: unknown): void | Promise<void>;
}
