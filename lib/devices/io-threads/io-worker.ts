// Entry point of an I/O thread: hosts device back-end halves (see protocol.ts) on this thread's event
// loop, which blocks in epoll (libuv) while nothing is to be done. The halves do their host I/O
// synchronously (preadv/pwritev into guest memory, TAP readv/writev): nothing they start outlives the
// turn that started it, so quiesce() is over as soon as it returns.
import { ConfigError } from '../../kvm/errors';
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../../runner/messages';
import type { FromIoThread, HostContext, HostedHalf, HostedModuleSpec, ToIoThread } from './protocol';

const halves = new Map<number, HostedHalf>();

function send(message: FromIoThread): void {
  parentPort?.postMessage(message);
}

async function host(id: number, spec: HostedModuleSpec): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(spec.module) as Record<string, unknown>;
  const make = loaded[spec.export];
  if (typeof make !== 'function') throw new ConfigError(`module ${spec.module} has no function export '${spec.export}'`);
  const context: HostContext = { reportError: (error) => send({ type: 'event', id, event: { kind: 'error', error: serializeError(error) } }) };
  halves.set(id, (await (make as (context: HostContext, args: unknown) => HostedHalf | Promise<HostedHalf>)(context, spec.args)) ?? {});
}

async function handle(message: ToIoThread): Promise<unknown> {
  if (message.type === 'host') return host(message.id, message.spec);
  const half = halves.get(message.id);
  if (half === undefined) return undefined; // already quiesced: nothing left to do
  if (message.method === 'quiesce') {
    try {
      return await half.quiesce?.();
    } finally {
      halves.delete(message.id);
    }
  }
  const method = half[message.method] as ((argument?: unknown) => unknown) | undefined;
  return method?.call(half, message.argument);
}

parentPort?.on('message', (message: ToIoThread) => {
  handle(message).then(
    (value) => send({ type: 'reply', token: message.token, value }),
    (error: unknown) => send({ type: 'reply', token: message.token, error: serializeError(error) }),
  );
});
