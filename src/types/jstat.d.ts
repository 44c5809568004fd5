/** The part of jstat (https://github.com/jstat/jstat) this project uses: Student's t distribution. */
declare module 'jstat' {
  interface StudentT {
    /** P(T ≤ x) for `dof` degrees of freedom (any positive real). */
    cdf(x: number, dof: number): number;
    /** The quantile: x with P(T ≤ x) = p. */
    inv(p: number, dof: number): number;
  }
  const jStat: { studentt: StudentT };
  export default jStat;
}
