export * from './types';
export * from './config';
export * from './validate';
export * from './authors-json';
export * from './run';
export { generators } from './generators/index';
export { itemPopularity, itemsByPopularity } from './common';
export { Mf, surrogateTargetHitRate, sampleUsers } from './surrogate/mf';
