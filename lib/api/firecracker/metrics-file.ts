// Firecracker's metrics file: a JSON line on every FlushMetrics and every 60 s, with the deltas since
// the last line, to a file or a FIFO (opened without blocking; a line a full FIFO cannot take is
// dropped and counted in logger.missed_metrics_count, as Firecracker counts it).
import { LineSink } from './line-sink';
import { firecrackerCounters, firecrackerLatencies, METRICS_FLUSH_INTERVAL_MS, MetricsDeltas } from './metrics';
import type { MetricsConfig } from './sections';
import type { VmMetrics } from '../vm-metrics';

export class MetricsFile {
  readonly #sink: LineSink;
  readonly #config: MetricsConfig;
  readonly #id: string;
  readonly #read: () => VmMetrics | undefined;
  readonly #deltas = new MetricsDeltas();
  readonly #timer: NodeJS.Timeout;

  /** @throws {@link VmFileError} when metrics_path cannot be opened. */
  constructor(config: MetricsConfig, id: string, read: () => VmMetrics | undefined, intervalMs = METRICS_FLUSH_INTERVAL_MS) {
    this.#sink = new LineSink(config.metrics_path, 'metrics_path');
    this.#config = config;
    this.#id = id;
    this.#read = read;
    this.#timer = setInterval(() => this.flush(), intervalMs);
    this.#timer.unref();
  }

  /** Writes one line now. */
  flush(): void {
    const metrics = this.#read();
    const counters = metrics === undefined ? {} : this.#deltas.next(firecrackerCounters(metrics));
    const line: Record<string, unknown> = {
      utc_timestamp_ms: Date.now(),
      ...(this.#config.emit_id ? { id: this.#id } : {}),
      ...(this.#config.properties !== undefined ? { properties: this.#config.properties } : {}),
      ...counters,
      latencies_us: metrics === undefined ? {} : firecrackerLatencies(metrics),
      logger: { missed_metrics_count: this.#sink.missed },
    };
    this.#sink.write(JSON.stringify(line));
  }

  close(): void {
    clearInterval(this.#timer);
    this.#sink.close();
  }
}
