// The VMM's log (Firecracker's logger section): lines at or above the configured level go to
// log_path, with the level and origin shown when asked for, as Firecracker formats them.
import { LineSink } from './line-sink';
import { LOG_LEVELS, type Logger, type LogLevel } from './sections';

export class VmmLog {
  #config: Logger | undefined;
  #sink: LineSink | undefined;
  readonly #id: string;

  constructor(id: string) {
    this.#id = id;
  }

  /** Applies a logger section; the new file is opened before the old one is closed. */
  configure(config: Logger): void {
    const sink = config.log_path !== undefined ? new LineSink(config.log_path, 'log_path') : undefined;
    this.#sink?.close();
    this.#sink = sink;
    this.#config = config;
  }

  get missed(): number {
    return this.#sink?.missed ?? 0;
  }

  log(level: Exclude<LogLevel, 'Off'>, origin: string, message: string): void {
    const config = this.#config;
    if (config === undefined || this.#sink === undefined || config.level === 'Off') return;
    if (LOG_LEVELS.indexOf(level) > LOG_LEVELS.indexOf(config.level)) return;
    if (config.module !== undefined && !origin.startsWith(config.module)) return;
    const parts = [new Date().toISOString(), `[${this.#id}]`];
    if (config.show_level) parts.push(`[${level}]`);
    if (config.show_log_origin) parts.push(`[${origin}]`);
    this.#sink.write(`${parts.join(' ')} ${message}`);
  }

  close(): void {
    this.#sink?.close();
    this.#sink = undefined;
  }
}
