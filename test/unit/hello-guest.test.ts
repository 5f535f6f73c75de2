import { strict as assert } from 'node:assert';
import { helloGuest } from '../../lib/cli/hello-guest';
import { guestBinary } from '../guests/build';

describe('demo guest', () => {
  it('embeds exactly the bytes test/guests/hello.S assembles to', () => {
    assert.deepEqual(Array.from(helloGuest()), Array.from(guestBinary('hello')));
  });
});
