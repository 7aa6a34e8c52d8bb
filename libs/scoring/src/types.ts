/** Anything that produces dense score rows for users (dot-product models, NeuMF, ...): the platform's one scorer type. */
export interface Scorer {
  numUsers: number;
  numItems: number;
  /** Writes users.length × numItems scores, row-major, into `out`. */
  scoreUsers(users: Uint32Array, out: Float32Array): void;
}
