export * from './sqlite';
export * from './artifacts';
