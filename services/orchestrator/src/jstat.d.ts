// The part of jStat (no bundled types) the reports use.
declare module 'jstat' {
  const pkg: { jStat: { studentt: { cdf(x: number, dof: number): number } } };
  export default pkg;
}
