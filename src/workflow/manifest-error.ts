// A manifest that cannot be used: every problem found, each prefixed with the path of the bad field.
import { H2kError } from '../util/errors.js';

export type ManifestErrorCode =
  | 'E_MANIFEST_PARSE'      // not valid JSON / YAML
  | 'E_MANIFEST_INVALID'    // parsed, but the schema rejects it
  | 'E_PATH_ESCAPE';        // output_path leaves the output directory

export class ManifestError extends H2kError {
  readonly issues: string[];

  constructor(code: ManifestErrorCode, file: string, issues: string[], hint?: string) {
    const head = issues.length === 1 ? issues[0] : `${issues.length} problems: ${issues.join('; ')}`;
    super(head, { code, file, hint });
    this.name = 'ManifestError';
    this.issues = issues;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), issues: this.issues };
  }
}
