/** Tiny float64 matrix helpers for reference values in tests (plain JS arrays, row-major). */
export type M = number[][];

export const zeros = (r: number, c: number): M => Array.from({ length: r }, () => new Array<number>(c).fill(0));
export const eye = (n: number): M => zeros(n, n).map((row, i) => row.map((_, j) => (i === j ? 1 : 0)));
export const tr = (a: M): M => a[0]!.map((_, j) => a.map((row) => row[j]!));
export const mul = (a: M, b: M): M => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
export const add = (a: M, b: M, f = 1): M => a.map((row, i) => row.map((v, j) => v + f * b[i]![j]!));
export const scale = (a: M, f: number): M => a.map((row) => row.map((v) => v * f));
export const maxAbsDiff = (a: M, b: M): number => Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i]![j]!))));

/** exp(A) by scaling and squaring with a 30-term Taylor series (float64 reference). */
export function expm64(a: M): M {
  const n = a.length;
  const norm = Math.max(...a.map((row) => row.reduce((s, v) => s + Math.abs(v), 0)));
  const s = Math.max(0, Math.ceil(Math.log2(norm / 0.25)));
  const as = scale(a, 2 ** -s);
  let e = eye(n);
  for (let k = 30; k >= 1; k--) e = add(eye(n), scale(mul(as, e), 1 / k));
  for (let i = 0; i < s; i++) e = mul(e, e);
  return e;
}
