export * from './kernels';
export * from './optim';
export * from './spmm';
export * from './backend';
export * from './reference';
export * from './update-helper';
export * from './spmm-helper';
export * from './spmm-wasm';
