// Waiting on the event loop until the fd watches (eventfds polled in libuv's poll phase) have seen
// everything signalled so far.
import { EventFd } from '../../lib/kvm/eventfd';
import { until } from './until';

/** Waits until the event loop has polled the eventfds signalled so far (a sentinel signalled after them has fired). */
export async function drain(): Promise<void> {
  const sentinel = new EventFd();
  try {
    let seen = false;
    sentinel.watch(() => (seen = true), () => undefined);
    sentinel.signal();
    await until(() => seen, 'the sentinel eventfd');
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    sentinel.close();
  }
}
