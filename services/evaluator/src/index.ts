export { startEvaluatorService, type EvaluatorServiceOptions } from './service';
export { ModelRegistry } from './registry';
export { scorerFor, ModelServer, DatasetCache } from './models';
export { ServePool } from './serve-pool';
export { EXPORT_FORMATS, npyBytes, npyFiles, tfjsFiles, writeExport, type ExportFormat } from './export';
export { Oip } from './oip';
export { startOipHttp, type OipHttpOptions } from './oip-http';
export { fromStatistics, metricKey, shardResultOf, toStatistics } from './evaluation-stats';
