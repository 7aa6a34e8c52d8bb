export * from './errors';
export * from './rng';
export * from './csr';
export * from './interactions';
export * from './config';
export * from './provenance';
export * from './util';
export * from './workers';
