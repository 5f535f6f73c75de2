// Guest memory in a snapshot: only the pages that were ever written are copied, the others stay holes
// in a sparse file (or memfd). Which pages those are: KVM's dirty log (the guest's own writes), the
// pages the host wrote into guest memory (GuestMemory records them: devices, the loader), and for a
// restored VM the pages its snapshot held. mincore() would not do: on a restored VM the memory is a
// file mapping, whose pages are resident whether or not anyone wrote them.
import * as fs from 'node:fs';
import type { GuestMemory } from '../../memory/guest-memory';
import { PAGE_SIZE } from '../../memory/layout';
import { SnapshotError } from './errors';
import type { SavedRegion } from './state';

/** The pages of each region that hold data, as a byte per page. */
export class PageTracker {
  readonly #present: Uint8Array[];

  /** For fresh memory (nothing present yet), or a restored VM's (`runs` from its snapshot). */
  constructor(memory: GuestMemory, runs?: readonly (readonly number[])[]) {
    this.#present = memory.regions.map((region, i) => {
      const present = new Uint8Array(region.size / PAGE_SIZE);
      const regionRuns = runs?.[i] ?? [];
      for (let at = 0; at < regionRuns.length; at += 2) present.fill(1, regionRuns[at] as number, (regionRuns[at] as number) + (regionRuns[at + 1] as number));
      return present;
    });
  }

  /** Adds the guest's writes (KVM dirty-log bitmaps, bit n = page n) and the host's (GuestMemory's record). */
  update(memory: GuestMemory, dirtyLogs: readonly Uint8Array[]): void {
    memory.regions.forEach((region, i) => {
      const present = this.#present[i] as Uint8Array;
      const log = dirtyLogs[i];
      if (log !== undefined) {
        for (let byte = 0; byte < log.length; byte++) {
          const bits = log[byte] as number;
          if (bits === 0) continue;
          for (let bit = 0; bit < 8; bit++) if ((bits & (1 << bit)) !== 0) present[byte * 8 + bit] = 1;
        }
      }
      const written = region.writtenPages;
      for (let page = 0; page < present.length; page++) if (written[page] !== 0) present[page] = 1;
    });
  }

  /** The present pages of each region as [first page, count] runs. */
  runs(): number[][] {
    return this.#present.map((present) => {
      const runs: number[] = [];
      for (let page = 0; page < present.length; ) {
        if (present[page] === 0) {
          page++;
          continue;
        }
        const first = page;
        while (page < present.length && present[page] !== 0) page++;
        runs.push(first, page - first);
      }
      return runs;
    });
  }

  /** Pages present in all. */
  get pageCount(): number {
    return this.#present.reduce((sum, present) => sum + present.reduce((n, page) => n + page, 0), 0);
  }
}

/** Region n's place in the memory file: one after another, page-aligned. */
export function memoryFileLayout(memory: GuestMemory, tracker: PageTracker): { regions: SavedRegion[]; fileSize: number } {
  const runs = tracker.runs();
  let offset = 0;
  const regions = memory.regions.map((region, i) => {
    const saved: SavedRegion = { guestAddress: region.guestAddress, size: region.size, fileOffset: offset, present: runs[i] as number[] };
    offset += region.size;
    return saved;
  });
  return { regions, fileSize: offset };
}

/** Writes the present pages into `fd` (a new file or memfd, sized first so the rest stays holes). */
export function writeMemoryImage(memory: GuestMemory, layout: { regions: SavedRegion[]; fileSize: number }, fd: number): void {
  try {
    fs.ftruncateSync(fd, layout.fileSize);
    layout.regions.forEach((region, i) => {
      for (let at = 0; at < region.present.length; at += 2) {
        const offset = (region.present[at] as number) * PAGE_SIZE;
        const length = (region.present[at + 1] as number) * PAGE_SIZE;
        memory.writeRangeToFile(i, offset, length, fd, region.fileOffset + offset);
      }
    });
  } catch (error) {
    throw new SnapshotError('IO', `writing guest memory failed: ${(error as Error).message}`, { cause: error });
  }
}
