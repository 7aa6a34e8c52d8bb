export * from './errors';
export * from './handlers';
export * from './server';
export * from './client';
export * from './probe';
export * from './datasets';
export * from './models';
export * from './lifecycle';
