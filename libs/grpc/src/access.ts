/**
 * The one table saying what every RPC of every service a platform port serves does:
 * - mutate: changes state or starts work (imports, derivations, generation, jobs, uploads,
 *   evaluations that store a record, experiments): always needs the platform's bearer token
 *   when one is configured;
 * - read:   reads or computes without storing (lists, gets, fetches, scoring): needs the
 *   token only when reads are protected (ROBUSTREC_AUTH_READS=1);
 * - open:   health checking, which probes (Kubernetes, compose) call without credentials.
 *
 * A method missing here is treated as `mutate` (fail closed), and libs/grpc/test/access.test.ts
 * enumerates every method of every compiled descriptor and fails on one that is not listed,
 * so a new RPC cannot be left unclassified silently.
 */
export type Access = 'mutate' | 'read' | 'open';

export const ACCESS: Readonly<Record<string, Readonly<Record<string, Access>>>> = {
  'robustrec.v1.DataService': {
    ImportDataset: 'mutate',
    GetDataset: 'read',
    ListDatasets: 'read',
    GetStatistics: 'read',
    FetchDataset: 'read',
    DerivePoisonedDataset: 'mutate',
    PutProfileSet: 'mutate',
    ImportProfileSet: 'mutate',
    ExportProfileSet: 'read',
    GetProfileSet: 'read',
    ListProfileSets: 'read',
    ListCatalogue: 'read',
  },
  'robustrec.v1.AttackService': {
    ListGenerators: 'read',
    RegisterGenerator: 'mutate',
    UnregisterGenerator: 'mutate',
    Generate: 'mutate',
    GetProfileSet: 'read',
    // stores nothing, but dials a caller-given address and makes it work (like registering)
    TestGenerator: 'mutate',
  },
  'robustrec.v1.AttackGenerator': {
    Describe: 'read',
    // computes and returns profiles, stores nothing (the AttackService's Generate, which stores
    // them, is the mutating call); the attack service reaches its built-ins through it
    GenerateProfiles: 'read',
  },
  'robustrec.v1.TrainerService': {
    StartJob: 'mutate',
    WatchJob: 'read',
    CancelJob: 'mutate',
    GetJob: 'read',
    ListJobs: 'read',
    ListComponents: 'read',
  },
  'robustrec.v1.ModelRegistryService': {
    RegisterModel: 'mutate',
    GetModel: 'read',
    ListModels: 'read',
    DownloadModel: 'read',
    // moves what every client of the alias is served
    SetAlias: 'mutate',
    ListAliases: 'read',
    DeleteAlias: 'mutate',
  },
  'robustrec.v1.EvaluatorService': {
    // stores an evaluation record
    Evaluate: 'mutate',
    GetEvaluation: 'read',
    ListEvaluations: 'read',
    // computes once and caches the 2-D points of a stored model (bounded sample sizes): no
    // state a caller could observe beyond the cache
    ProjectUsers: 'read',
  },
  'robustrec.v1.ScoringService': {
    Recommend: 'read',
    Score: 'read',
    RecommendBatch: 'read',
    RecommendStream: 'read',
    RecommendMany: 'read',
    // pins a model in memory: a caller could exhaust it
    LoadModel: 'mutate',
    ListLoadedModels: 'read',
  },
  'robustrec.v1.ExperimentService': {
    SubmitExperiment: 'mutate',
    ListExperiments: 'read',
    GetExperiment: 'read',
    WatchExperiment: 'read',
    CancelExperiment: 'mutate',
    GetReport: 'read',
    ListSpecs: 'read',
    GetResults: 'read',
  },
  'inference.GRPCInferenceService': {
    ServerLive: 'read',
    ServerReady: 'read',
    ModelReady: 'read',
    ServerMetadata: 'read',
    ModelMetadata: 'read',
    ModelInfer: 'read',
  },
  'grpc.health.v1.Health': { Check: 'open', Watch: 'open', List: 'open' },
  'grpc.reflection.v1.ServerReflection': { ServerReflectionInfo: 'read' },
  'grpc.reflection.v1alpha.ServerReflection': { ServerReflectionInfo: 'read' },
};

/** What a method path ("/robustrec.v1.DataService/ImportDataset") does; unlisted: mutate. */
export function accessOf(path: string): Access {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return (m && ACCESS[m[1]!]?.[m[2]!]) || 'mutate';
}
