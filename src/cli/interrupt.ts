// Ctrl-C and SIGTERM during a foreground command: the work is cancelled through an AbortSignal
// (the native side removes its .partial output) and the command exits as a shell expects a
// killed process to: 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
import { EXIT } from './exit-codes.js';

const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: EXIT.INTERRUPTED, SIGTERM: EXIT.TERMINATED };

export interface Interrupt {
  signal: AbortSignal;
  /** 130 / 143 once a signal arrived, else undefined. */
  exitCode(): number | undefined;
  /** Stops listening (the process' default handling comes back). */
  dispose(): void;
}

export function interruptOnSignals(): Interrupt {
  const abort = new AbortController();
  let received: keyof typeof SIGNAL_EXIT | undefined;
  const handlers = (Object.keys(SIGNAL_EXIT) as Array<keyof typeof SIGNAL_EXIT>).map((sig) => {
    const handler = () => {
      received ??= sig;
      abort.abort();
    };
    process.once(sig, handler);
    return [sig, handler] as const;
  });
  return {
    signal: abort.signal,
    exitCode: () => (received ? SIGNAL_EXIT[received] : undefined),
    dispose: () => handlers.forEach(([sig, h]) => process.off(sig, h)),
  };
}
