// Releases what a test or bench acquired, newest first, on every path: each release runs even if
// an earlier one threw; the first error is rethrown once all have run.
export class Cleanup {
  readonly #releases: (() => unknown)[] = [];

  /** Registers `release` and returns `resource`, so acquiring and registering is one line. */
  add<T>(resource: T, release: (resource: T) => unknown): T {
    this.#releases.push(() => release(resource));
    return resource;
  }

  defer(release: () => unknown): void {
    this.#releases.push(release);
  }

  async run(): Promise<void> {
    let first: unknown;
    for (const release of this.#releases.splice(0).reverse()) {
      try {
        await release();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  }
}
