// The I/O threads of this process: a small bounded set of worker threads, shared by every VM, that
// host the devices' back ends so that guests' disk and network traffic never runs on the embedding
// app's event loop. Each hosted half lives on one thread (the least loaded when it is hosted). A thread
// keeps the process alive only while a call to it is pending. With `threads: 0` the halves run on the
// main thread instead, through the same interface.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError, VmmError } from '../../kvm/errors';
import { serializeError, type SerializedError } from '../../runner/messages';
import type { FromIoThread, HostContext, HostedEvent, HostedHalf, HostedMethod, HostedModuleSpec, ToIoThread } from './protocol';

const WORKER_PATH = path.join(__dirname, 'io-worker.js');
/** The number of I/O threads unless configureIoThreads() says otherwise. */
export const DEFAULT_IO_THREADS = 1;
export const MAX_IO_THREADS = 64;

/** A hosted half failed or its thread died. */
export class IoThreadError extends VmmError {}

/** A device's half on an I/O thread (or on the main thread), as the device's main half calls it. */
export interface HostedHandle {
  call(method: HostedMethod, argument?: unknown): Promise<unknown>;
}

type EventListener = (event: HostedEvent) => void;

function revive(error: SerializedError): IoThreadError {
  const revived = new IoThreadError(error.message);
  if (error.stack !== undefined) revived.stack = error.stack;
  return revived;
}

class IoThread {
  readonly worker: Worker;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #listeners = new Map<number, EventListener>();
  readonly #onDead: (thread: IoThread) => void;
  #nextToken = 1;
  #dead: Error | undefined;

  constructor(onDead: (thread: IoThread) => void) {
    this.#onDead = onDead;
    this.worker = new Worker(WORKER_PATH, { name: 'node-vmm-io' });
    this.worker.unref();
    this.worker.on('message', (message: FromIoThread) => this.#receive(message));
    this.worker.on('error', (error) => this.#die(error));
    this.worker.on('exit', (code) => this.#die(new IoThreadError(`I/O thread exited with code ${code}`)));
  }

  /** Halves hosted here now. */
  get load(): number {
    return this.#listeners.size;
  }

  host(id: number, spec: HostedModuleSpec, onEvent: EventListener): Promise<unknown> {
    this.#listeners.set(id, onEvent);
    return this.#send({ type: 'host', token: 0, id, spec }).catch((error: unknown) => {
      this.#listeners.delete(id);
      throw error;
    });
  }

  call(id: number, method: HostedMethod, argument?: unknown): Promise<unknown> {
    const done = this.#send({ type: 'call', token: 0, id, method, ...(argument !== undefined ? { argument } : {}) });
    if (method === 'quiesce') return done.finally(() => this.#listeners.delete(id));
    return done;
  }

  #send(message: ToIoThread): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const token = this.#nextToken++;
    return new Promise((resolve, reject) => {
      this.#pending.set(token, { resolve, reject });
      if (this.#pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...message, token });
    });
  }

  #receive(message: FromIoThread): void {
    if (message.type === 'event') {
      this.#listeners.get(message.id)?.(message.event);
      return;
    }
    const pending = this.#pending.get(message.token);
    if (pending === undefined) return;
    this.#pending.delete(message.token);
    if (this.#pending.size === 0) this.worker.unref();
    if (message.error !== undefined) pending.reject(revive(message.error));
    else pending.resolve(message.value);
  }

  #die(error: Error): void {
    if (this.#dead !== undefined) return;
    this.#dead = error;
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    for (const listener of this.#listeners.values()) listener({ kind: 'error', error: serializeError(error) });
    this.#listeners.clear();
    this.#onDead(this);
  }
}

let threadLimit = DEFAULT_IO_THREADS;
const threads: IoThread[] = [];
let nextHalfId = 1;

/**
 * How many I/O threads the process may start (default 1; 0 runs back ends on the main thread).
 * @throws {@link ConfigError} when `threads` is not a whole number in range.
 */
export function configureIoThreads(options: { threads: number }): void {
  const count = options.threads;
  if (!Number.isInteger(count) || count < 0 || count > MAX_IO_THREADS) throw new ConfigError(`I/O threads: a whole number from 0 to ${MAX_IO_THREADS}, not ${count}`);
  threadLimit = count;
}

/**
 * How many I/O threads virtio back ends are spread over (0: the main thread).
 * @throws Nothing.
 */
export function ioThreadCount(): number {
  return threadLimit;
}

/**
 * Starts the I/O threads ahead of use (each costs tens of milliseconds to start).
 * @throws Nothing.
 */
export function warmIoThreads(): void {
  while (threads.length < threadLimit) threads.push(new IoThread(forget));
}

function forget(thread: IoThread): void {
  const index = threads.indexOf(thread);
  if (index >= 0) threads.splice(index, 1);
}

function pickThread(): IoThread {
  if (threads.length < threadLimit) {
    const started = new IoThread(forget);
    threads.push(started);
    return started;
  }
  return threads.reduce((best, thread) => (thread.load < best.load ? thread : best));
}

/** Hosts a half: loads `spec.module` on an I/O thread and calls its export there. */
export async function hostHalf(spec: HostedModuleSpec, onEvent: EventListener): Promise<HostedHandle> {
  const id = nextHalfId++;
  if (threadLimit === 0) return hostOnMainThread(spec, onEvent);
  const thread = pickThread();
  await thread.host(id, spec, onEvent);
  return { call: (method, argument) => thread.call(id, method, argument) };
}

async function hostOnMainThread(spec: HostedModuleSpec, onEvent: EventListener): Promise<HostedHandle> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(spec.module) as Record<string, unknown>;
  const make = loaded[spec.export];
  if (typeof make !== 'function') throw new IoThreadError(`module ${spec.module} has no function export '${spec.export}'`);
  const context: HostContext = { reportError: (error) => onEvent({ kind: 'error', error: serializeError(error) }) };
  return localHandle((await (make as (context: HostContext, args: unknown) => HostedHalf | Promise<HostedHalf>)(context, spec.args)) ?? {});
}

/** A half that lives on this thread, behind the same interface (it is forgotten once quiesced). */
export function localHandle(half: HostedHalf): HostedHandle {
  let current: HostedHalf | undefined = half;
  return {
    async call(method, argument) {
      const target = current;
      if (target === undefined) return undefined;
      if (method === 'quiesce') current = undefined;
      const fn = target[method] as ((argument?: unknown) => unknown) | undefined;
      return fn?.call(target, argument);
    },
  };
}
