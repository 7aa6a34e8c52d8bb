export { startEvaluatorService, type EvaluatorServiceOptions } from './service';
export { ModelRegistry } from './registry';
export { scorerFor, ModelServer, DatasetCache } from './models';
export { ServePool } from './serve-pool';
