import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot } from '@robustrec/core';
import { ACCESS } from '@robustrec/grpc';
import { render, splitImage, type K8sObject } from './k8s/kustomize';

/**
 * deploy/k8s, offline: every overlay rendered (test/k8s/kustomize.ts), every object validated
 * against the Kubernetes OpenAPI schemas (kubernetes-models), and the references between
 * objects checked: Service selectors and ports, probe ports, volumes and claims, secrets, the
 * StatefulSets' headless Services, the HPA's and PDBs' targets, the orchestrator's replica
 * sources; and what every container must have (requests and limits, non-root, read-only root
 * filesystem with a writable /tmp, gRPC probes: readiness on a service name, liveness on "").
 * deploy/docker-compose.yaml: scaled services publish no fixed host port.
 */
const K8S = join(repoRoot, 'deploy', 'k8s');
const OVERLAYS = ['small', 'large', 'gpu-trainer'];
/** Secrets the deployment expects to exist (docs/deploy.md says how to create them). */
const EXTERNAL_SECRETS = new Set(['robustrec-tls', 'robustrec-token', 'robustrec-plugins']);

type Container = { name: string; image: string; args?: string[]; ports?: Array<{ name?: string; containerPort: number }>; resources?: any; securityContext?: any; readinessProbe?: any; livenessProbe?: any; startupProbe?: any; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> };
const WORKLOADS = new Set(['Deployment', 'StatefulSet']);
const podSpec = (w: K8sObject): { containers: Container[]; volumes?: any[]; securityContext?: any } => w.spec.template.spec;
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);

async function validateSchema(o: K8sObject): Promise<void> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [undefined, o.apiVersion];
  const mod = (await import(/* @vite-ignore */ `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`)) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = mod[o.kind];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

function checkReferences(docs: K8sObject[]): string[] {
  const errs: string[] = [];
  const workloads = docs.filter((d) => WORKLOADS.has(d.kind));
  const services = docs.filter((d) => d.kind === 'Service');
  const key = (d: K8sObject): string => `${d.kind}/${d.metadata.name}`;
  const seen = new Set<string>();
  for (const d of docs) {
    if (seen.has(key(d))) errs.push(`${key(d)} defined twice`);
    seen.add(key(d));
  }
  for (const w of workloads) {
    const pod = podSpec(w);
    const labels = w.spec.template.metadata?.labels;
    if (!matches(w.spec.selector.matchLabels, labels)) errs.push(`${key(w)}: selector does not match its pod labels`);
    if (pod.securityContext?.runAsNonRoot !== true) errs.push(`${key(w)}: pod not runAsNonRoot`);
    const volumes = new Set([...(pod.volumes ?? []).map((v: { name: string }) => v.name), ...(w.spec.volumeClaimTemplates ?? []).map((c: K8sObject) => c.metadata.name)]);
    for (const v of pod.volumes ?? []) {
      if (v.persistentVolumeClaim && !docs.some((d) => d.kind === 'PersistentVolumeClaim' && d.metadata.name === v.persistentVolumeClaim.claimName))
        errs.push(`${key(w)}: claim ${v.persistentVolumeClaim.claimName} is not defined`);
      if (v.secret && !EXTERNAL_SECRETS.has(v.secret.secretName)) errs.push(`${key(w)}: secret ${v.secret.secretName} is not one of the documented secrets`);
    }
    for (const c of pod.containers) {
      const where = `${key(w)} container ${c.name}`;
      const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      const portNumbers = new Set(ports.values());
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) errs.push(`${where}: mount of undefined volume ${m.name}`);
      if (!(c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp' && !m.readOnly)) errs.push(`${where}: no writable /tmp`);
      for (const r of ['requests', 'limits']) for (const x of ['cpu', 'memory']) if (!c.resources?.[r]?.[x]) errs.push(`${where}: no ${r}.${x}`);
      const sc = c.securityContext ?? {};
      if (sc.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false || !sc.capabilities?.drop?.includes('ALL')) errs.push(`${where}: securityContext not locked down`);
      const [, tag] = splitImage(c.image);
      if (!tag || tag === 'latest') errs.push(`${where}: image ${c.image} has no fixed tag`);
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
        const p = c[probe];
        if (!p?.grpc) errs.push(`${where}: ${probe} is not a gRPC probe`);
        else if (!portNumbers.has(p.grpc.port)) errs.push(`${where}: ${probe} port ${p.grpc.port} is not a container port`);
      }
      const ready = c.readinessProbe?.grpc?.service;
      if (!ready || !ACCESS[ready]) errs.push(`${where}: readiness probe must name a served service, got ${ready}`);
      if (c.livenessProbe?.grpc?.service) errs.push(`${where}: liveness probe must ask for "" (the whole process)`);
      // addresses in the args: each "name:port" is a Service with that port, each replica source a headless one
      for (const a of c.args ?? []) {
        const src = /^(?:dns:\/\/\/)?(robustrec-[\w-]+?)(?:\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local)?:(\d+)$/.exec(a);
        const srv = /^srv:\/\/\/_(\w+)\._tcp\.(robustrec-[\w-]+)\./.exec(a);
        if (src) {
          const s = services.find((x) => x.metadata.name === src[1]);
          if (!s || !s.spec.ports.some((p: { port: number }) => p.port === Number(src[2]))) errs.push(`${where}: ${a} is not a Service port`);
          if (a.startsWith('dns:///') && s?.spec.clusterIP !== 'None') errs.push(`${where}: ${a} needs a headless Service (one A record per pod)`);
        }
        if (srv) {
          const s = services.find((x) => x.metadata.name === srv[2]);
          if (!s || s.spec.clusterIP !== 'None' || !s.spec.ports.some((p: { name?: string }) => p.name === srv[1])) errs.push(`${where}: ${a} needs a headless Service with a port named ${srv[1]}`);
        }
      }
    }
    if (w.kind === 'StatefulSet') {
      const s = services.find((x) => x.metadata.name === w.spec.serviceName);
      if (!s || s.spec.clusterIP !== 'None' || !matches(s.spec.selector, w.spec.template.metadata.labels)) errs.push(`${key(w)}: serviceName ${w.spec.serviceName} is not a headless Service selecting it`);
      if (!w.spec.volumeClaimTemplates?.length) errs.push(`${key(w)}: a StatefulSet without a volume claim`);
    }
  }
  for (const s of services) {
    const targets = workloads.filter((w) => matches(s.spec.selector, w.spec.template.metadata.labels));
    if (!targets.length) errs.push(`${key(s)}: selector matches no pod`);
    for (const p of s.spec.ports)
      for (const w of targets)
        if (!podSpec(w).containers.some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort)))
          errs.push(`${key(s)}: targetPort ${p.targetPort} is not a port of ${key(w)}`);
  }
  for (const h of docs.filter((d) => d.kind === 'HorizontalPodAutoscaler')) {
    const t = workloads.find((w) => w.kind === h.spec.scaleTargetRef.kind && w.metadata.name === h.spec.scaleTargetRef.name);
    if (!t) errs.push(`${key(h)}: scale target not found`);
    if (h.spec.minReplicas > h.spec.maxReplicas) errs.push(`${key(h)}: minReplicas > maxReplicas`);
  }
  for (const p of docs.filter((d) => d.kind === 'PodDisruptionBudget')) {
    const t = workloads.filter((w) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels));
    if (!t.length) errs.push(`${key(p)}: selects no pod`);
    for (const w of t) if (p.spec.minAvailable !== undefined && p.spec.minAvailable >= w.spec.replicas) errs.push(`${key(p)}: minAvailable ${p.spec.minAvailable} with ${w.spec.replicas} replicas blocks every eviction`);
  }
  const netpols = docs.filter((d) => d.kind === 'NetworkPolicy');
  if (!netpols.some((n) => Object.keys(n.spec.podSelector).length === 0 && n.spec.policyTypes.includes('Ingress') && !n.spec.ingress)) errs.push('no default-deny NetworkPolicy');
  const portNames = new Set(workloads.flatMap((w) => podSpec(w).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name))));
  for (const n of netpols)
    for (const rule of [...(n.spec.ingress ?? []), ...(n.spec.egress ?? [])])
      for (const p of rule.ports ?? []) if (typeof p.port === 'string' && !portNames.has(p.port)) errs.push(`${key(n)}: port ${p.port} names no container port`);
  return errs;
}

const kubectl = ((): boolean => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
})();

describe('Kubernetes manifests', () => {
  for (const overlay of OVERLAYS) {
    describe(overlay, () => {
      const docs = render(join(K8S, 'overlays', overlay));

      it('renders the whole platform into one namespace', () => {
        const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`);
        for (const s of ['orchestrator', 'data', 'registry', 'trainer']) expect(kinds).toContain(`StatefulSet/robustrec-${s}`);
        for (const s of ['scoring', 'attack']) expect(kinds).toContain(`Deployment/robustrec-${s}`);
        expect(kinds).toContain('HorizontalPodAutoscaler/robustrec-scoring');
        expect(new Set(docs.map((d) => d.metadata.namespace)).size).toBe(1);
      });

      it('validates against the Kubernetes schemas', async () => {
        const errors: string[] = [];
        for (const d of docs) await validateSchema(d).catch((e: Error) => errors.push(`${d.kind}/${d.metadata.name}: ${e.message}`));
        expect(errors).toEqual([]);
      });

      it('has consistent cross-references and locked-down containers', () => {
        expect(checkReferences(docs)).toEqual([]);
      });

      it.runIf(kubectl)('renders exactly as kubectl kustomize does (where kubectl is installed)', () => {
        const theirs = parseAllDocuments(execFileSync('kubectl', ['kustomize', join(K8S, 'overlays', overlay)], { encoding: 'utf8', timeout: 60_000 }))
          .map((d) => d.toJS() as K8sObject)
          .filter(Boolean);
        const byKey = (xs: K8sObject[]) => Object.fromEntries(xs.map((x) => [`${x.kind}/${x.metadata.name}`, x]));
        expect(byKey(docs)).toEqual(byKey(theirs));
      });
    });
  }

  it('catches a broken reference and a schema violation (the checks are not vacuous)', async () => {
    const docs = render(join(K8S, 'overlays', 'small'));
    const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'robustrec-trainer')!;
    svc.spec.selector = { 'app.kubernetes.io/name': 'robustrec-trainr' };
    const trainer = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'robustrec-trainer')!;
    podSpec(trainer).containers[0]!.readinessProbe.grpc.port = 9999;
    delete podSpec(trainer).containers[0]!.resources.limits;
    const errs = checkReferences(docs);
    expect(errs).toEqual(expect.arrayContaining([
      'Service/robustrec-trainer: selector matches no pod',
      'StatefulSet/robustrec-trainer container trainer: readinessProbe port 9999 is not a container port',
      'StatefulSet/robustrec-trainer container trainer: no limits.cpu',
    ]));
    podSpec(trainer).containers[0]!.ports![0]!.containerPort = 'grpc' as unknown as number;
    await expect(validateSchema(trainer)).rejects.toThrow(/containerPort must be integer/);
  });
});

describe('docker compose', () => {
  const compose = parse(readFileSync(join(repoRoot, 'deploy', 'docker-compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, { command?: string[]; ports?: string[]; healthcheck?: unknown; depends_on?: unknown }> };

  it('scales: no host port on a scaled service, every service health-checked, mains that exist, the orchestrator included', () => {
    // `--scale trainer=3` would make three containers bind the same host port
    for (const s of ['trainer', 'attack', 'scoring']) expect(compose.services[s]?.ports, s).toBeUndefined();
    // the one published port (the orchestrator's) listens on loopback only
    for (const [name, s] of Object.entries(compose.services)) for (const p of s.ports ?? []) expect(String(p), name).toMatch(/^127\.0\.0\.1:/);
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.healthcheck, name).toBeDefined();
      const main = s.command?.[0];
      expect(main && existsSync(join(repoRoot, main)), `${name}: ${main}`).toBe(true);
    }
    expect(compose.services.orchestrator?.depends_on).toBeDefined();
  });
});
