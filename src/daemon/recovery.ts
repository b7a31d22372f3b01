// Start-up clean-up after a crash or SIGKILL: outputs are written as <out>.partial and renamed
// when complete, so any .partial under output_dir is a half-done job. Its source is still in
// watch_dir (sources move only after success) and will be converted again from the start.
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const MAX_DEPTH = 3; // {output_dir}/YYYY-MM-DD/<vm>/<file>

export async function removeStalePartials(outputDir: string): Promise<string[]> {
  const removed: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory() && depth < MAX_DEPTH) await walk(p, depth + 1);
      else if (e.isFile() && (e.name.endsWith('.partial') || /\.tmp-\d+-[a-z0-9]+$/.test(e.name))) {
        await unlink(p).then(() => removed.push(p), () => undefined);
      }
    }
  };
  await walk(outputDir, 1);
  return removed;
}
