// Generated code lives in ./gen (buf generate, never committed). Import service modules
// from '@robustrec/contracts/<service>' style re-exports below.
export * as common from './gen/robustrec/v1/common';
export * as data from './gen/robustrec/v1/data';
export * as attack from './gen/robustrec/v1/attack';
export * as generator from './gen/robustrec/v1/attack_generator';
export * as trainer from './gen/robustrec/v1/trainer';
export * as evaluator from './gen/robustrec/v1/evaluator';
export * as scoring from './gen/robustrec/v1/scoring';
export * as inference from './gen/inference/grpc_predict_v2';
export * as experiment from './gen/robustrec/v1/experiment';
