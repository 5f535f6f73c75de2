/* A ring-3 virtio-vsock client: one stream connection at a time to a host port (CID 2), polled. */
#ifndef GUEST_VSOCK_H
#define GUEST_VSOCK_H

/* Connects to host port `port`, sends `length` bytes of `data`, and reads back as many bytes into
 * `reply` (the host side echoes). Returns the bytes read back, or a negative step number: -1 no
 * device, -2 no answer, -3 refused (RST), -4 the connection ended early. */
long vsock_echo(unsigned int port, const unsigned char *data, unsigned int length, unsigned char *reply);

#endif
