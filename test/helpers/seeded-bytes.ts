// Deterministic pseudo-random bytes (xorshift32), so failures reproduce. Self-contained (no
// imports, no closures): tests also ship its source to child processes via toString().
export function seededBytes(len: number, seed: number, nonZero = false): Buffer {
  const b = Buffer.alloc(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = nonZero ? (x & 0xff) | 1 : x & 0xff;
  }
  return b;
}
