export type { Scorer } from './types';
export { dotProductScorer, isDotProductScorer, type DotProductScorer } from './scorer';
export { BLOCK, DotKernel, newPackedItems, scalarScore, setPackHook, type PackedItems } from './kernel';
export { TopK, maskRow } from './topk';
export { dotRanker, rankerOf, rankInSlices, rankUsers, type BlockRanker } from './rank';
export { topItems, type TopItems } from './recommend';
export { runDotTask, runScorerTask, type RankTask } from './rank-task';
export { RankPool, defaultThreads, rankPool } from './pool';
export { MlpKernel } from './mlp-kernel';
