import { strict as assert } from 'node:assert';
import { ClosedError } from '../../lib/kvm/errors';
import { EventFd } from '../../lib/kvm/eventfd';
import { native } from '../../lib/native/binding';
import { openFdCount } from '../helpers/kvm';

describe('EventFd and the native fd watcher', () => {
  it('counts signals and takes them', () => {
    const event = new EventFd();
    try {
      assert.equal(event.take(), 0);
      event.signal();
      event.signal();
      assert.equal(event.take(), 2);
      assert.equal(event.take(), 0);
    } finally {
      event.close();
    }
  });

  it('wakes a watcher on the event loop (batched), and stops after close', async () => {
    const event = new EventFd();
    const seen: number[] = [];
    await new Promise<void>((resolve, reject) => {
      event.watch((count) => {
        seen.push(count);
        if (seen.reduce((a, b) => a + b, 0) >= 3) resolve();
      }, reject);
      event.signal();
      event.signal();
      setImmediate(() => event.signal());
    });
    assert.equal(seen.reduce((a, b) => a + b, 0), 3);
    event.close();
    assert.throws(() => event.signal(), ClosedError);
  });

  it('validates watchFd arguments and leaves no descriptor behind', () => {
    const before = openFdCount();
    assert.throws(() => native().watchFd(-1, () => {}), /fd/);
    assert.throws(() => native().watchFd(0, 'x' as unknown as () => void), /function/);
    for (let i = 0; i < 100; i++) {
      const event = new EventFd();
      event.watch(() => {}, () => {});
      event.close();
    }
    assert.equal(openFdCount(), before);
  });
});
