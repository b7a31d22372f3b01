// Secrets of a connection URL (the database password) never reach a log line, an error record,
// stats or `ctl` output: every text derived from a URL or from a driver error goes through the
// redactor made from that URL.

const MASK = '***';

/** The URL's password in every spelling it may appear in: as written, percent-decoded, encoded. */
export function urlSecrets(url: string | undefined): string[] {
  return url ? secretsOf(url) : [];
}

function secretsOf(url: string): string[] {
  const found = new Set<string>();
  const add = (s: string | null | undefined) => {
    if (!s) return;
    found.add(s);
    try {
      found.add(decodeURIComponent(s));
    } catch {
      /* not percent-encoded */
    }
    found.add(encodeURIComponent(s));
  };
  try {
    const u = new URL(url);
    add(u.password);
    add(u.searchParams.get('password'));
  } catch {
    // Not a WHATWG URL (a unix socket path as host): take user:password@ by hand.
    add(/^[a-z]+:\/\/[^:/@]*:([^@]*)@/i.exec(url)?.[1]);
    add(/[?&]password=([^&]*)/i.exec(url)?.[1]);
  }
  // Longest first, so that a secret containing another is masked whole.
  return [...found].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

export type Redactor = (text: string) => string;

/** A function that masks the URL's password wherever it occurs in a text. */
export function redactorFor(url: string): Redactor {
  const secrets = secretsOf(url);
  return (text) => secrets.reduce((t, s) => t.split(s).join(MASK), text);
}

/** The URL as it may be shown: password masked. */
export function redactUrl(url: string): string {
  return redactorFor(url)(url);
}
