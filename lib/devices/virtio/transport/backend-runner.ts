// Runs one virtio back end on the thread it lives on: watches the device's queue-notify eventfds
// (KVM signals them on a guest's QueueNotify write) and its status eventfd (the vCPU-thread half
// signals it when the driver sets DRIVER_OK, resets the device or notifies through the register),
// activates and resets the back end as the shared status says, and pauses, resumes and quiesces it.
// Used in the same way on the main thread and on an I/O thread.
import type { BackendContext, VirtioBackend } from './backend';
import { EventFdWatch, signalEventFd } from './fd-watch';
import { DeviceStatus } from './mmio-registers';

export interface BackendFds {
  /** The irqfd the back end signals to interrupt the guest. */
  irq: number;
  /** One ioeventfd per queue, in queue order. */
  notify: readonly number[];
  /** Signalled by the vCPU-thread half on status changes and register notifications. */
  status: number;
}

export class BackendRunner {
  readonly #backend: VirtioBackend;
  readonly #context: BackendContext;
  readonly #watches: EventFdWatch[];
  readonly #status: EventFdWatch;
  readonly #onError: (error: Error) => void;
  #active = false;
  #running = false;
  #quiesced = false;

  constructor(make: (context: BackendContext) => VirtioBackend, context: Omit<BackendContext, 'signal'>, fds: BackendFds, onError: (error: Error) => void) {
    this.#context = { ...context, signal: () => signalEventFd(fds.irq) };
    this.#backend = make(this.#context);
    this.#watches = fds.notify.map((fd) => new EventFdWatch(fd));
    this.#status = new EventFdWatch(fds.status);
    this.#onError = onError;
  }

  get backend(): VirtioBackend {
    return this.#backend;
  }

  /** Starts serving (or serves again after pause()); catches up on whatever the driver did meanwhile. */
  start(): void {
    if (this.#quiesced || this.#running) return;
    this.#running = true;
    this.#watches.forEach((watch, queue) => watch.start(() => this.#notify(queue), this.#onError));
    this.#status.start(() => this.#statusChanged(), this.#onError);
    if (this.#active) this.#backend.resume?.();
    this.#statusChanged();
    if (this.#active) for (let queue = 0; queue < this.#watches.length; queue++) this.#notify(queue);
  }

  /** Stops serving: no notification is acted on and the back end takes nothing from host sources. */
  pause(): void {
    if (!this.#running) return;
    this.#running = false;
    for (const watch of this.#watches) watch.stop();
    this.#status.stop();
    if (this.#active) this.#backend.pause?.();
  }

  /** Stops for good: after it resolves, the back end never touches guest memory again. */
  async quiesce(): Promise<void> {
    if (this.#quiesced) return;
    this.pause();
    this.#quiesced = true;
    await this.#backend.quiesce?.();
  }

  #notify(queue: number): void {
    this.#sync();
    if (this.#active) this.#backend.notify(queue);
  }

  #statusChanged(): void {
    this.#sync();
    if (!this.#active) return;
    const pending = this.#context.transport.takePendingNotifies();
    for (let queue = 0; queue < this.#watches.length; queue++) if ((pending & (1 << queue)) !== 0) this.#backend.notify(queue);
  }

  /** Follows the shared status: activate on DRIVER_OK, reset when it is gone. */
  #sync(): void {
    const live = (this.#context.transport.status & DeviceStatus.DRIVER_OK) !== 0;
    if (live && !this.#active) {
      this.#active = true;
      this.#backend.activate();
    } else if (!live && this.#active) {
      this.#active = false;
      this.#backend.reset();
    }
  }
}
