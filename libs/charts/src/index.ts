export * from './specs';
export * from './render';
