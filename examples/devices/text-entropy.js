// The back end of examples/custom-device.js. It is a module, so node-vmm loads it on its I/O thread
// (not the main thread) and calls createBackend(context, args) there; args came through
// structured clone. Each chain the guest offers is filled with the bytes of args.text, round and round.
const { openQueues, signalUsed, deviceBroken } = require('node-vmm');

exports.createBackend = (context, args) => {
  const text = Buffer.from(args.text);
  let queue;
  let next = 0;
  return {
    activate() {
      queue = openQueues(context, [0])?.[0]; // undefined if the driver set the queue up badly
    },
    reset() {
      queue = undefined;
    },
    notify() {
      if (queue === undefined) return;
      try {
        for (let chain = queue.pop(); chain !== undefined; chain = queue.pop()) {
          for (const buffer of chain.writable) {
            for (let i = 0; i < buffer.length; i++) buffer[i] = text[next++ % text.length];
          }
          queue.pushUsed(chain.head, chain.writableBytes);
          context.counters?.add('bytes', chain.writableBytes); // readable on the main thread
        }
        signalUsed(context, queue);
      } catch (error) {
        deviceBroken(context, error); // the guest broke its queue: NEEDS_RESET, the host goes on
      }
    },
  };
};
