// Progress display: one line on a terminal, redrawn at most 10 times a second (percent, bytes,
// rate, ETA); nothing at all when stderr is not a terminal, with --json or --no-progress.
// Drawn by hand: a carriage return and an erase-to-end-of-line need no width, so a terminal that
// reports 0 columns (script(1), some CI consoles, a pane being resized) cannot make it loop, and
// nothing here holds the event loop, so SIGINT/SIGTERM are always handled.
import { formatBytes, formatDuration } from '../util/format.js';

export interface ProgressLine {
  update(label: string, done: number, total: number): void;
  stop(): void;
}

const REDRAW_MS = 100;
const ERASE_LINE = '\x1b[K';

/** The line for `done` of `total` bytes after `seconds`: label, percent, bytes, rate and ETA. */
export function progressText(label: string, done: number, total: number, seconds: number): string {
  const pct = total > 0 ? Math.min(100, (done / total) * 100) : 100;
  const rate = seconds > 0 ? done / seconds : 0;
  const eta = rate > 0 && total > done ? ` ETA ${formatDuration((total - done) / rate)}` : '';
  return `${label} ${pct.toFixed(1)}%  ${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(rate)}/s${eta}`;
}

/** Fits a line to the terminal: columns 0 or unknown means "do not cut". */
function fit(text: string, columns: number | undefined): string {
  return columns && columns > 1 && text.length >= columns ? text.slice(0, columns - 1) : text;
}

export function createProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressLine {
  if (!enabled || !stream.isTTY) return { update() {}, stop() {} };
  const started = Date.now();
  let last = 0;
  let drawn = false;
  return {
    update(label, done, total) {
      const now = Date.now();
      if (now - last < REDRAW_MS && done < total) return;
      last = now;
      stream.write(`\r${fit(progressText(label, done, total, (now - started) / 1000), stream.columns)}${ERASE_LINE}`);
      drawn = true;
    },
    stop() {
      if (drawn) stream.write(`\r${ERASE_LINE}`);
      drawn = false;
    },
  };
}
