// Progress and cancellation of one pool task in shared memory: the thread running the task (or the
// native engine itself, through convertSync) writes progress into it; the thread that asked for the
// task reads it and raises the cancel flag. The layout is native/src/binding/convert_binding.cpp's:
// BigInt64 slots bytes done, bytes total, data bytes, phase (0 convert, 1 verify); then the cancel
// byte the engine polls.
export interface TaskProgress {
  bytesDone: number;
  bytesTotal: number;
  dataBytes: number;
  phase: 'convert' | 'verify';
}

const SLOTS = 5;
const CANCEL_OFFSET = 4 * 8;

export class SharedProgress {
  private readonly cancelFlag: Uint8Array;

  /** `slots` crosses to a worker as it is: a typed array over a SharedArrayBuffer is shared, not copied. */
  constructor(readonly slots: BigInt64Array = new BigInt64Array(new SharedArrayBuffer(SLOTS * 8))) {
    this.cancelFlag = new Uint8Array(slots.buffer, slots.byteOffset + CANCEL_OFFSET, 1);
  }

  publish(p: { bytesDone: number; bytesTotal: number; dataBytes?: number; phase?: string }): void {
    Atomics.store(this.slots, 0, BigInt(p.bytesDone));
    Atomics.store(this.slots, 1, BigInt(p.bytesTotal));
    Atomics.store(this.slots, 2, BigInt(p.dataBytes ?? 0));
    Atomics.store(this.slots, 3, p.phase === 'verify' ? 1n : 0n);
  }

  read(): TaskProgress {
    const phase = Atomics.load(this.slots, 3) === 1n ? 'verify' : 'convert';
    const at = (i: number) => Number(Atomics.load(this.slots, i));
    return { bytesDone: at(0), bytesTotal: at(1), dataBytes: at(2), phase };
  }

  cancel(): void {
    Atomics.store(this.cancelFlag, 0, 1);
  }

  get cancelled(): boolean {
    return Atomics.load(this.cancelFlag, 0) === 1;
  }
}

/**
 * Awaits an asynchronous native job (hash, or a conversion on the main thread), publishing its
 * progress into `shared` and cancelling it when the flag is raised.
 */
export async function awaitNativeJob<T>(
  start: (onProgress: (p: { bytesDone: number; bytesTotal: number; dataBytes?: number; phase?: string }) => void) => {
    promise: Promise<T>;
    cancel(): void;
  },
  shared: SharedProgress,
): Promise<T> {
  const handle = start((p) => shared.publish(p));
  const watch = setInterval(() => shared.cancelled && handle.cancel(), 25);
  try {
    if (shared.cancelled) handle.cancel();
    return await handle.promise;
  } finally {
    clearInterval(watch);
  }
}
