/**
 * Iterated k-core over interaction pairs: repeatedly drops users with fewer than
 * `userCore` and items with fewer than `itemCore` surviving interactions until both hold
 * (dropping an item can push a user under the threshold and vice versa). Returns a mask
 * of the surviving interactions. A core of 0 (or 1) disables that side.
 */
export function kCoreMask(
  users: ArrayLike<number>,
  items: ArrayLike<number>,
  numUsers: number,
  numItems: number,
  userCore: number,
  itemCore: number,
): Uint8Array {
  const n = users.length;
  const alive = new Uint8Array(n).fill(1);
  const uc = new Uint32Array(numUsers);
  const ic = new Uint32Array(numItems);
  for (let k = 0; k < n; k++) {
    uc[users[k]!]!++;
    ic[items[k]!]!++;
  }
  for (;;) {
    let removed = 0;
    for (let k = 0; k < n; k++) {
      if (!alive[k]) continue;
      const u = users[k]!;
      const i = items[k]!;
      if (uc[u]! < userCore || ic[i]! < itemCore) {
        alive[k] = 0;
        removed++;
      }
    }
    if (removed === 0) return alive;
    // recount from survivors: counts of removed rows must not linger
    uc.fill(0);
    ic.fill(0);
    for (let k = 0; k < n; k++)
      if (alive[k]) {
        uc[users[k]!]!++;
        ic[items[k]!]!++;
      }
  }
}
