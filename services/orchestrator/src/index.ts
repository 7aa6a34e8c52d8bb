export { parseSpec, loadSpec, expandCells, type ExperimentSpec, type Cell } from './spec';
export { ExperimentStore, type CellRecord } from './store';
export { Orchestrator, type Endpoints, type RunEvents } from './runner';
export { buildReport, reportToMarkdown, reportToCsv, blockToMarkdown } from './report';
export { writeReport } from './artifacts';
export { startPlatform, type Platform } from './platform';
export { startOrchestratorService, type RunningOrchestratorService } from './service';
export { ReplicaPool, replicaSources } from './replicas';
