export * from './config';
export * from './trainer';
export * from './checkpoint';
export * from './scorer';
export { Sampler } from './sampler';
export { backbones } from './backbones';
export { defenses } from './defenses';
export type * from './types';
export type { ComponentSpec, ParamSpec, OptionSpec, ResolvedComponent } from './spec';
