// The checks an OVF descriptor passes before any XML parser sees it. OVF descriptors never
// need a DTD, so every <!DOCTYPE> is refused (with or without an internal subset or an external
// DTD): nothing is ever expanded (billion laughs) or fetched (XXE, parameter entities, external
// DTDs), whatever the parser's own options do. The only entity references left are XML's five
// predefined ones and character references; any other name is a reference to an undefined entity.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { H2kError } from '../util/errors.js';

/** An .ovf descriptor is a few KiB of XML; the same cap as for a .ovf inside an OVA. */
export const MAX_OVF_BYTES = 16 * 1024 * 1024;

const PREDEFINED = new Set(['amp', 'lt', 'gt', 'quot', 'apos']);

function lineAt(xml: string, index: number): number {
  let line = 1;
  for (let i = xml.indexOf('\n'); i !== -1 && i < index; i = xml.indexOf('\n', i + 1)) line++;
  return line;
}

function doctypeError(xml: string, at: number, file: string): H2kError {
  // Only the start of the declaration is looked at: what it declares decides the message.
  const decl = xml.slice(at, at + 4096);
  const entities = /<!ENTITY/i.test(decl);
  const external = /^<!DOCTYPE\s+[^\s>[]+\s+(?:SYSTEM|PUBLIC)\b/i.test(decl);
  const what = entities ? 'a DOCTYPE with entities' : external ? 'a DOCTYPE with an external DTD' : 'a DOCTYPE';
  return new H2kError(`${basename(file)}: line ${lineAt(xml, at)} declares ${what}; OVF descriptors never need one`, {
    code: 'E_OVF_DOCTYPE',
    file,
    hint: 'the descriptor was not written by an OVF exporter (a DOCTYPE can expand entities or fetch files); nothing was read from it — re-export the VM',
  });
}

/**
 * Refuses a descriptor with a DOCTYPE (E_OVF_DOCTYPE) or a reference to an entity XML does not
 * predefine (E_OVF_INVALID). Comments, CDATA sections and processing instructions are skipped,
 * since '&' and '<!' are plain text there.
 */
export function assertPlainOvfXml(xml: string, file: string): void {
  if (xml.length > MAX_OVF_BYTES) throw tooLarge(file, xml.length);
  let i = 0;
  let lt = -2;
  let amp = -2;
  while (i < xml.length) {
    // Each search resumes only once passed, so the scan stays linear.
    if (lt !== -1 && lt < i) lt = xml.indexOf('<', i);
    if (amp !== -1 && amp < i) amp = xml.indexOf('&', i);
    if (lt === -1 && amp === -1) return;
    if (amp !== -1 && (lt === -1 || amp < lt)) {
      // A reference in text or in an attribute value (attribute values cannot hold '<').
      const m = /^&(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z_][\w.-]*);/.exec(xml.slice(amp, amp + 64));
      if (!m || (!m[1].startsWith('#') && !PREDEFINED.has(m[1])))
        throw new H2kError(
          `${basename(file)}: line ${lineAt(xml, amp)} is not well-formed XML: ${m ? `reference to undefined entity &${m[1]};` : "a bare '&'"}`,
          { code: 'E_OVF_INVALID', file, hint: 'only &amp; &lt; &gt; &quot; &apos; and character references are allowed; re-export the VM' },
        );
      i = amp + m[0].length;
      continue;
    }
    const skipTo = (close: string): number => {
      const end = xml.indexOf(close, lt);
      if (end === -1)
        throw new H2kError(`${basename(file)}: line ${lineAt(xml, lt)} opens a section that is never closed (no '${close}')`, {
          code: 'E_OVF_INVALID',
          file,
          hint: 'the descriptor is truncated or damaged; re-export the VM',
        });
      return end + close.length;
    };
    if (xml.startsWith('<!--', lt)) i = skipTo('-->');
    else if (xml.startsWith('<![CDATA[', lt)) i = skipTo(']]>');
    else if (xml.startsWith('<?', lt)) i = skipTo('?>');
    else if (/^<!DOCTYPE/i.test(xml.slice(lt, lt + 9))) throw doctypeError(xml, lt, file);
    else if (xml.startsWith('<!', lt))
      // <!ENTITY, <!ELEMENT ... outside a DOCTYPE: not XML at all, and never OVF.
      throw new H2kError(`${basename(file)}: line ${lineAt(xml, lt)} holds a markup declaration (${xml.slice(lt, lt + 12)}...) outside any DOCTYPE`, {
        code: 'E_OVF_DOCTYPE',
        file,
        hint: 'OVF descriptors never declare entities or elements; re-export the VM',
      });
    else i = lt + 1;
  }
}

function tooLarge(file: string, size: number): H2kError {
  return new H2kError(`${basename(file)} is ${size} bytes; an OVF descriptor is a few KiB and h2k reads at most ${MAX_OVF_BYTES}`, {
    code: 'E_OVF_TOO_LARGE',
    file,
    hint: 'name the .ovf descriptor of the VM, not a disk or another file',
  });
}

/** Reads a loose .ovf, refusing one larger than MAX_OVF_BYTES before reading it. */
export function readOvfFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    return readOvfFd(fd, path);
  } finally {
    closeSync(fd);
  }
}

/** readOvfFile on a descriptor the caller opened (the daemon opens without following links). */
export function readOvfFd(fd: number, path: string): string {
  const size = fstatSync(fd).size;
  if (size > MAX_OVF_BYTES) throw tooLarge(path, size);
  const buf = Buffer.alloc(size);
  let n = 0;
  for (let got = 1; n < size && got > 0; n += got) got = readSync(fd, buf, n, size - n, n);
  return buf.subarray(0, n).toString('utf8');
}
