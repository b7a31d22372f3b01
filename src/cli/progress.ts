// Progress display: an ora spinner line on a TTY, nothing at all when piped or with --json.
import ora, { type Ora } from 'ora';
import { formatBytes } from '../util/format.js';

export interface ProgressLine {
  update(label: string, done: number, total: number): void;
  stop(): void;
}

export function createProgress(enabled: boolean): ProgressLine {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const started = Date.now();
  const spinner: Ora = ora({ stream: process.stderr, discardStdin: false }).start();
  return {
    update(label, done, total) {
      const pct = total > 0 ? Math.min(100, (done / total) * 100) : 100;
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      spinner.text = `${label} ${pct.toFixed(1)}%  ${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(rate)}/s`;
    },
    stop() {
      spinner.stop();
    },
  };
}
