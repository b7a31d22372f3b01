// Manifest workflow fixtures: a workflow directory tree, seeded disks (raw and VMDK via
// qemu-img) and manifests written the way users drop them (write elsewhere, then rename in).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { makeSeededRaw, tempDir, toVmdk } from './fixtures.js';

export interface WorkflowTree {
  root: string;
  workflowDir: string;
  queueDir: string;
  outputDir: string;
  imagesDir: string;
  cleanup: () => void;
}

export function workflowTree(prefix: string): WorkflowTree {
  const { dir: root, cleanup } = tempDir(prefix);
  const workflowDir = join(root, 'wf');
  const queueDir = join(workflowDir, 'to_be_processed');
  const outputDir = join(root, 'out');
  const imagesDir = join(root, 'images');
  for (const d of [queueDir, outputDir, imagesDir]) mkdirSync(d, { recursive: true });
  return { root, workflowDir, queueDir, outputDir, imagesDir, cleanup };
}

/** Seeded raw disk plus its monolithicSparse VMDK twin. */
export function seededDisk(dir: string, name: string, mib: number, seed: number): { raw: string; vmdk: string } {
  const raw = makeSeededRaw(join(dir, `${name}.raw`), mib, seed);
  const vmdk = toVmdk(raw, join(dir, `${name}.vmdk`), 'monolithicSparse');
  return { raw, vmdk };
}

/** Writes a manifest (YAML for .yaml/.yml, JSON for .json, or verbatim text) and moves it into `dir`. */
export function dropManifest(dir: string, fileName: string, content: unknown, stagingDir: string): string {
  const staged = join(stagingDir, `.staging-${basename(fileName)}`);
  const text = typeof content === 'string' ? content : fileName.endsWith('.json') ? JSON.stringify(content, null, 2) : stringify(content);
  writeFileSync(staged, text);
  const target = join(dir, fileName);
  renameSync(staged, target);
  return target;
}

export function singleManifest(sourcePath: string, extra: Record<string, unknown> = {}, sourceType = 'vmdk'): Record<string, unknown> {
  return {
    version: '1.0',
    pipeline: { load: { source_type: sourceType, source_path: sourcePath }, ...extra },
  };
}
