/**
 * k-core over interaction pairs: drops users with fewer than `userCore` and items with fewer
 * than `itemCore` surviving interactions until both hold (dropping an item can push a user
 * under the threshold and vice versa). Returns a mask of the surviving interactions. A core of
 * 0 (or 1) disables that side. The result is the largest sub-multigraph where every user and
 * item meets its threshold, which is unique, so any removal order reaches it.
 *
 * Peeling, O(N + users + items): count once, index every interaction by its user and by its
 * item, then a worklist of the users and items under their threshold; removing one visits only
 * its own interactions and decrements the other ends, queueing those that fall under theirs.
 * (It replaced repeated full passes over all interactions, one per cascade step: 6–7 passes,
 * b = 1.29 in bench:scale.) Extra memory: 8 bytes per interaction for the two indexes.
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
  // an interaction's own user and item always have at least one: a core of 1 drops nothing
  if (userCore <= 1 && itemCore <= 1) return alive;
  const uc = new Uint32Array(numUsers);
  const ic = new Uint32Array(numItems);
  for (let k = 0; k < n; k++) {
    uc[users[k]!]!++;
    ic[items[k]!]!++;
  }
  // interactions grouped by user and by item (CSR over interaction indices)
  const byUser = groupBy(users, uc, n);
  const byItem = groupBy(items, ic, n);
  // one queue for both sides: users are 0..numUsers-1, items numUsers + i; each enters once
  const queue = new Uint32Array(numUsers + numItems);
  const queued = new Uint8Array(numUsers + numItems);
  let tail = 0;
  for (let u = 0; u < numUsers; u++)
    if (uc[u]! > 0 && uc[u]! < userCore) {
      queued[u] = 1;
      queue[tail++] = u;
    }
  for (let i = 0; i < numItems; i++)
    if (ic[i]! > 0 && ic[i]! < itemCore) {
      queued[numUsers + i] = 1;
      queue[tail++] = numUsers + i;
    }
  for (let head = 0; head < tail; head++) {
    const x = queue[head]!;
    const isUser = x < numUsers;
    const g = isUser ? byUser : byItem;
    const node = isUser ? x : x - numUsers;
    for (let p = g.start[node]!; p < g.start[node + 1]!; p++) {
      const k = g.edges[p]!;
      if (!alive[k]) continue;
      alive[k] = 0;
      if (isUser) {
        const i = items[k]!;
        if (--ic[i]! < itemCore && !queued[numUsers + i]) {
          queued[numUsers + i] = 1;
          queue[tail++] = numUsers + i;
        }
      } else {
        const u = users[k]!;
        if (--uc[u]! < userCore && !queued[u]) {
          queued[u] = 1;
          queue[tail++] = u;
        }
      }
    }
  }
  return alive;
}

/** Interaction indices grouped by key: edges[start[key] .. start[key + 1]). */
function groupBy(keys: ArrayLike<number>, counts: Uint32Array, n: number): { start: Uint32Array; edges: Uint32Array } {
  const start = new Uint32Array(counts.length + 1);
  for (let c = 0; c < counts.length; c++) start[c + 1] = start[c]! + counts[c]!;
  const cursor = start.slice(0, counts.length);
  const edges = new Uint32Array(n);
  for (let k = 0; k < n; k++) edges[cursor[keys[k]!]!++] = k;
  return { start, edges };
}
