import { common, data } from '@robustrec/contracts';
import { csrFromPairs, emptyCsr, RrError, type Csr, type InteractionData } from '@robustrec/core';
import { callOptions, iterate, peerClient } from './client';

/**
 * Reads a whole dataset from a DataService over its chunked FetchDataset stream and
 * rebuilds the in-memory CSR form every library uses. Used by the trainer, evaluator and
 * attack services: services only ever see datasets through this contract.
 */
export async function fetchInteractionData(
  dataAddress: string,
  id: string,
  splits: common.Split[] = [common.Split.SPLIT_TRAIN, common.Split.SPLIT_VALID, common.Split.SPLIT_TEST],
): Promise<{ dataset: data.Dataset; data: InteractionData }> {
  const client = peerClient(data.DataServiceClient, dataAddress);
  let header: data.Dataset | undefined;
  const parts = new Map<common.Split, { users: number[][]; items: number[][] }>();
  for await (const msg of iterate(client.fetchDataset({ id, splits, chunkSize: 262144 }, callOptions('transfer')), client)) {
    if (msg.header) header = msg.header.dataset;
    else if (msg.chunk) {
      const p = parts.get(msg.chunk.split) ?? { users: [], items: [] };
      p.users.push(msg.chunk.users);
      p.items.push(msg.chunk.items);
      parts.set(msg.chunk.split, p);
    }
  }
  if (!header) throw new RrError('UNAVAILABLE', `FetchDataset(${id.slice(0, 64)}) from ${dataAddress} sent no header`);
  const h = header;
  const build = (s: common.Split): Csr => {
    const p = parts.get(s);
    if (!p) return emptyCsr(h.numUsers, h.numItems);
    const users = p.users.flat();
    const items = p.items.flat();
    return csrFromPairs(h.numUsers, h.numItems, users, items);
  };
  return {
    dataset: h,
    data: {
      id: h.id,
      numUsers: h.numUsers,
      numGenuineUsers: h.numGenuineUsers,
      numItems: h.numItems,
      train: build(common.Split.SPLIT_TRAIN),
      valid: build(common.Split.SPLIT_VALID),
      test: build(common.Split.SPLIT_TEST),
      targetItems: Uint32Array.from(h.targetItems),
    },
  };
}
