import { evaluator } from '@robustrec/contracts';
import { call, downloadModel, peerClient } from '@robustrec/grpc';
import type { ModelServer } from './models';
import type { ModelRegistry } from './registry';

/**
 * A scoring replica without a registry of its own (Kubernetes: the stateless scoring
 * Deployment, `--serve scoring,inference --registry ADDR`): models are resolved against the
 * registry service over gRPC and copied into this process's local registry (an emptyDir)
 * under the same id and version before they are loaded, so ModelServer serves them as usual.
 *
 * Name references ("latest of a name") ask the registry at most every NAME_TTL_MS per name;
 * ids are immutable and fetched once. Concurrent requests for one model share one download.
 */
const NAME_TTL_MS = 2_000;

export class RegistryMirror {
  private readonly downloads = new Map<string, Promise<void>>();
  private readonly names = new Map<string, { at: number; id: Promise<string> }>();

  constructor(
    private readonly local: ModelRegistry,
    private readonly address: string,
  ) {}

  /** Makes the model a reference resolves to (on the registry) present locally. */
  async ensure(ref: evaluator.ModelRef | undefined): Promise<void> {
    if (!ref || (!ref.id && !ref.name)) return; // the local registry reports the bad reference
    const id = ref.id || (await this.idOf(ref));
    if (this.has(id)) return;
    let p = this.downloads.get(id);
    if (!p) {
      p = this.copy(id).finally(() => this.downloads.delete(id));
      this.downloads.set(id, p);
    }
    await p;
  }

  private has(id: string): boolean {
    return !!this.local.db.prepare('SELECT 1 FROM models WHERE id = ?').get(id);
  }

  private idOf(ref: evaluator.ModelRef): Promise<string> {
    const key = `${ref.name}@${ref.version}`;
    const hit = this.names.get(key);
    if (hit && Date.now() - hit.at < NAME_TTL_MS) return hit.id;
    const c = peerClient(evaluator.ModelRegistryServiceClient, this.address);
    const id = call(c, c.getModel, { model: { id: '', name: ref.name, version: ref.version } }).then((r) => r.model!.id);
    id.catch(() => this.names.delete(key));
    this.names.set(key, { at: Date.now(), id });
    return id;
  }

  /** Downloads a model and stores it like ModelRegistry.register does (file, then row), keeping its id and version. */
  private async copy(id: string): Promise<void> {
    const { header, tensors } = await downloadModel(this.address, { id, name: '', version: 0 });
    const parts = header.tensors.map((t) => tensors[t.name]!);
    this.local.artifacts.write(`${id}.bin`, parts);
    this.local.db
      .prepare('INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?, ?)')
      .run(id, header.name, header.version, JSON.stringify(evaluator.Model.toJSON(header)), new Date().toISOString());
  }

  /** Routes a ModelServer's resolutions through the mirror first. */
  attach(server: ModelServer): void {
    const resolve = server.resolve.bind(server);
    server.resolve = async (ref) => {
      await this.ensure(ref);
      return resolve(ref);
    };
  }
}

/** The roles an evaluator process can serve (`--serve`), each a gRPC service of its port. */
export const EVALUATOR_ROLES = {
  evaluator: 'robustrec.v1.EvaluatorService',
  registry: 'robustrec.v1.ModelRegistryService',
  scoring: 'robustrec.v1.ScoringService',
  inference: 'inference.GRPCInferenceService',
} as const;
export type EvaluatorRole = keyof typeof EVALUATOR_ROLES;

/** Parses `--serve evaluator,registry,...` (default all). */
export function parseRoles(v: string | undefined): EvaluatorRole[] {
  const all = Object.keys(EVALUATOR_ROLES) as EvaluatorRole[];
  if (!v) return all;
  const roles = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const r of roles) if (!all.includes(r as EvaluatorRole)) throw new Error(`--serve: unknown role ${JSON.stringify(r)} (roles: ${all.join(', ')})`);
  return roles as EvaluatorRole[];
}
