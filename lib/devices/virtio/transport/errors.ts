// What a guest can get wrong in a virtqueue. Each is the guest's error: the device stops using the
// queue (NEEDS_RESET) and the host never touches memory outside guest RAM.
import { VmmError } from '../../../kvm/errors';

/** The codes of {@link VirtqueueError}. */
export type VirtqueueErrorCode =
  | 'BAD_QUEUE_SIZE'
  | 'RING_MISALIGNED'
  | 'RING_OUT_OF_RANGE'
  | 'AVAIL_INDEX_JUMP'
  | 'BAD_HEAD_INDEX'
  | 'BAD_NEXT_INDEX'
  | 'CHAIN_TOO_LONG'
  | 'BUFFER_OUT_OF_RANGE'
  | 'WRITABLE_BEFORE_READABLE'
  | 'BAD_INDIRECT_TABLE'
  | 'NESTED_INDIRECT'
  | 'INDIRECT_NOT_NEGOTIATED'
  | 'LENGTH_OVERFLOW';

/**
 * A guest's virtqueue broke a rule of the virtio spec (bad address, loop, overlong chain...); the device then
 * reports NEEDS_RESET.
 */
export class VirtqueueError extends VmmError {
  /** Which rule was broken, as a stable code. */
  readonly code: VirtqueueErrorCode;
  /**
   * Makes the error with its code.
   * @throws Nothing.
   */
  constructor(code: VirtqueueErrorCode, message: string) {
    super(`virtqueue: ${message}`);
    this.code = code;
  }
}
