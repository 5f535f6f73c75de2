/* The loops the host's benchmarks (bench/) time: nodevmm.mode=bench nodevmm.bench=NAME (see bench.c). */
#ifndef GUEST_BENCH_H
#define GUEST_BENCH_H

/* Runs nodevmm.bench=NAME over nodevmm.count=N units, prints one '# bench' line and ends the VM
 * (status 0, or 1 when the device failed); bench=marker never ends. */
void bench_main(void);

#endif
