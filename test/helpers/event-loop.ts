// Waiting on the event loop for work that fd watches do (eventfds polled in libuv's poll phase).
import { strict as assert } from 'node:assert';
import { EventFd } from '../../lib/kvm/eventfd';

/** Polls the event loop until `condition` holds, for at most ~10 s (a loaded machine is slow, never wrong). */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail('condition not reached');
}

/** Waits until the event loop has polled the eventfds signalled so far (a sentinel signalled after them has fired). */
export async function drain(): Promise<void> {
  const sentinel = new EventFd();
  try {
    let seen = false;
    sentinel.watch(() => (seen = true), () => undefined);
    sentinel.signal();
    await until(() => seen);
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    sentinel.close();
  }
}
