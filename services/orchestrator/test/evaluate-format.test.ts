import { describe, expect, it } from 'vitest';
import type { RankingResult } from '@robustrec/metrics';
import { formatEvaluation } from '../src/evaluate';

const result = (metrics: Record<string, [number, number | undefined]>): RankingResult =>
  ({
    usersEvaluated: 6000,
    sampling: { sampleUsers: 6000, seed: 2024, shardIndex: 0, shardCount: 0, population: 581395, usersRanked: 6000 },
    metrics: Object.fromEntries(Object.entries(metrics).map(([k, [v]]) => [k, v])),
    statistics: Object.fromEntries(Object.entries(metrics).map(([k, [v, h]]) => [k, { count: 6000, population: 581395, mean: v, stdDev: 0.01, sum: v * 6000, sumSquares: 0, ciHalfWidth: h }])),
  }) as unknown as RankingResult;

describe('robustrec evaluate output', () => {
  it('prints the 95% interval clipped to the metrics\' range [0, 1] and says when it was', () => {
    const lines = formatEvaluation(result({ 'recall@20': [0.000019, 0.000036], 'ndcg@20': [0.5, 0.01], 'hr@20': [0.99, 0.02], 't_hr@50': [0, undefined] }));
    expect(lines[1]).toContain('± 0.000036  95% CI [0.000000, 0.000055, clipped to [0, 1]]');
    expect(lines[2]).toContain('95% CI [0.490000, 0.510000]');
    expect(lines[2]).not.toContain('clipped');
    expect(lines[3]).toContain('95% CI [0.970000, 1.000000, clipped to [0, 1]]');
    expect(lines[4]).toContain('interval undefined');
  });
});
