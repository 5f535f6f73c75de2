// Polling, bounded and without blocking the event loop, for a condition that work on this loop (fd
// watches, sockets, immediates) or on another thread makes true.

/**
 * Resolves once `condition` holds; throws saying `what` after `limitMs`. The first polls are
 * immediates (each lets the loop's poll phase run the fd watches and socket I/O due), then 2 ms timers.
 */
export async function until(condition: () => boolean, what = 'the condition', limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (let i = 0; !condition(); i++) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise<void>((resolve) => (i < 20 ? setImmediate(resolve) : setTimeout(resolve, 2)));
  }
}
