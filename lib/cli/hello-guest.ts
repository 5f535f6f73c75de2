// The demo guest (test/guests/hello.S, assembled): 64-bit code that writes a message to port 0x3f8 and
// halts. Embedded so the demo needs no assembler; test/unit/hello-guest.test.ts checks it matches.
export const HELLO_MESSAGE = 'Hello from a KVM guest, answered by a TypeScript device.\n';
export const HELLO_PORT = 0x3f8;

const CODE = [
  0x48, 0x8d, 0x35, 0x0d, 0x00, 0x00, 0x00, // lea msg(%rip), %rsi
  0x66, 0xba, 0xf8, 0x03, //                   mov $0x3f8, %dx
  0xac, //                                     1: lodsb
  0x84, 0xc0, //                               test %al, %al
  0x74, 0x03, //                               jz 2f
  0xee, //                                     out %al, %dx
  0xeb, 0xf8, //                               jmp 1b
  0xf4, //                                     2: hlt
];

export function helloGuest(): Uint8Array {
  return Uint8Array.from([...CODE, ...Buffer.from(HELLO_MESSAGE, 'utf8'), 0]);
}
