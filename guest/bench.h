/* Throughput loops for the host's benchmarks (bench/net, bench/vsock): nodevmm.mode=bench. */
#ifndef GUEST_BENCH_H
#define GUEST_BENCH_H

/* Runs nodevmm.bench=NAME over nodevmm.count=N units, prints one '# bench' line and ends the VM
 * (status 0, or 1 when the device failed). */
void bench_main(void);

#endif
