// The local calendar day, YYYY-MM-DD: names the dated output and result directories of both
// daemon modes.
export function localDate(d = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
