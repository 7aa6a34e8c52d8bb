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
 * sources, the dashboard's trainer list (every trainer pod); what every container must have
 * (requests and limits, non-root, read-only root filesystem with a writable /tmp, a main that
 * exists; gRPC servers gRPC probes: readiness on a service name, liveness on ""; the dashboard
 * httpGet probes on /healthz, HTTPS where it serves TLS); and what the NetworkPolicies admit,
 * evaluated as a CNI would (admits below): the dashboard's paths and nothing more.
 * deploy/docker-compose.yaml: scaled services publish no fixed host port; the dashboard's
 * addresses are services of the file.
 */
const K8S = join(repoRoot, 'deploy', 'k8s');
const OVERLAYS = ['small', 'large', 'gpu-trainer'];
/** Secrets the deployment expects to exist (docs/deploy.md says how to create them). */
const EXTERNAL_SECRETS = new Set(['robustrec-tls', 'robustrec-token', 'robustrec-plugins']);

type Container = { name: string; image: string; args?: string[]; env?: Array<{ name: string; value?: string }>; ports?: Array<{ name?: string; containerPort: number }>; resources?: any; securityContext?: any; readinessProbe?: any; livenessProbe?: any; startupProbe?: any; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> };
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
      if (c.args?.[0] && !existsSync(join(repoRoot, c.args[0]))) errs.push(`${where}: main ${c.args[0]} does not exist`);
      if (ports.has('grpc')) {
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
          const p = c[probe];
          if (!p?.grpc) errs.push(`${where}: ${probe} is not a gRPC probe`);
          else if (!portNumbers.has(p.grpc.port)) errs.push(`${where}: ${probe} port ${p.grpc.port} is not a container port`);
        }
        const ready = c.readinessProbe?.grpc?.service;
        if (!ready || !ACCESS[ready]) errs.push(`${where}: readiness probe must name a served service, got ${ready}`);
        if (c.livenessProbe?.grpc?.service) errs.push(`${where}: liveness probe must ask for "" (the whole process)`);
      } else {
        // no gRPC server (the dashboard): GET /healthz, which needs no token and calls nothing;
        // with a certificate it serves only HTTPS, so an HTTP probe would fail forever
        const tls = (c.env ?? []).some((e) => e.name === 'ROBUSTREC_TLS_CERT');
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
          const p = c[probe]?.httpGet;
          if (!p) errs.push(`${where}: ${probe} is not an httpGet probe`);
          else {
            if (!(ports.has(p.port) || portNumbers.has(p.port))) errs.push(`${where}: ${probe} port ${p.port} is not a container port`);
            if (p.path !== '/healthz') errs.push(`${where}: ${probe} must GET /healthz, got ${p.path}`);
            if ((p.scheme ?? 'HTTP') !== (tls ? 'HTTPS' : 'HTTP')) errs.push(`${where}: ${probe} scheme ${p.scheme ?? 'HTTP'} but the server ${tls ? 'serves HTTPS' : 'serves plain HTTP'}`);
          }
        }
      }
      // the dashboard reads a cell's training curve from the pod that ran it: it must list every trainer pod
      if (c.args?.[0] === 'services/dashboard/src/serve.ts') {
        const trainers = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'robustrec-trainer');
        const listed = (c.args[c.args.indexOf('--trainer') + 1] ?? '').split(',').map((t) => t.trim());
        const want = Array.from({ length: trainers?.spec.replicas ?? 0 }, (_, i) => `robustrec-trainer-${i}.robustrec-trainer.$(POD_NAMESPACE).svc.cluster.local:50053`);
        if (c.args.indexOf('--trainer') < 0 || listed.join(',') !== want.join(','))
          errs.push(`${where}: --trainer must list the ${want.length} trainer pods, got ${listed.length}: ${listed.join(',')}`);
      }
      // addresses in the args (each item of a comma list): each "name:port" is a Service with that
      // port, each replica source a headless one, each pod name an ordinal of its StatefulSet
      for (const a of (c.args ?? []).flatMap((x) => x.split(',').map((t) => t.trim()))) {
        const podName = /^(robustrec-[\w-]+)-(\d+)\.(robustrec-[\w-]+)\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local:(\d+)$/.exec(a);
        if (podName) {
          const [, set, ordinal, governing, port] = podName;
          const ss = workloads.find((x) => x.kind === 'StatefulSet' && x.metadata.name === set);
          const s = services.find((x) => x.metadata.name === governing);
          if (!ss || ss.spec.serviceName !== governing || Number(ordinal) >= ss.spec.replicas) errs.push(`${where}: ${a} is not a pod of a StatefulSet governed by ${governing}`);
          if (!s || s.spec.clusterIP !== 'None' || !s.spec.ports.some((p: { port: number }) => p.port === Number(port))) errs.push(`${where}: ${a} needs a headless Service with port ${port}`);
        }
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

/** A pod as NetworkPolicies see it: its labels, namespace and named container ports. */
type Pod = { labels: Record<string, string>; namespace: string; ports?: Array<{ name?: string; containerPort: number }> };
type Selector = { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> };

function selects(sel: Selector, labels: Record<string, string>): boolean {
  return (
    matches(sel.matchLabels ?? {}, labels) &&
    (sel.matchExpressions ?? []).every((e) => {
      const v = labels[e.key];
      if (e.operator === 'In') return v !== undefined && e.values!.includes(v);
      if (e.operator === 'NotIn') return v === undefined || !e.values!.includes(v);
      if (e.operator === 'Exists') return v !== undefined;
      if (e.operator === 'DoesNotExist') return v === undefined;
      throw new Error(`selector operator ${e.operator}`);
    })
  );
}

/**
 * Whether the NetworkPolicies let `from` open a connection to `to` on port/protocol, as a CNI
 * enforces them: the source's egress and the destination's ingress must both admit it; a pod no
 * policy of a direction selects is open in that direction; policies add up. Named ports resolve
 * against the destination's container ports. Peers with a namespaceSelector other than {} or an
 * ipBlock are refused (unused here: the evaluator would have to guess).
 */
function admits(docs: K8sObject[], from: Pod, to: Pod, port: number, protocol = 'TCP'): boolean {
  const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
  const peer = (p: { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: unknown }, pod: Pod, ns: string): boolean => {
    if (p.ipBlock) throw new Error('ipBlock peers are not evaluated');
    if (p.namespaceSelector && Object.keys(p.namespaceSelector).length > 0) throw new Error('namespaceSelector other than {} is not evaluated');
    return (p.namespaceSelector ? true : pod.namespace === ns) && (!p.podSelector || selects(p.podSelector, pod.labels));
  };
  const portOk = (ports: Array<{ protocol?: string; port?: number | string }> | undefined): boolean =>
    !ports ||
    ports.some((p) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port || (typeof p.port === 'string' && (to.ports ?? []).some((cp) => cp.name === p.port && cp.containerPort === port))));
  const direction = (self: Pod, other: Pod, type: 'Ingress' | 'Egress'): boolean => {
    const mine = policies.filter((n) => (n.metadata.namespace ?? '') === self.namespace && n.spec.policyTypes.includes(type) && selects(n.spec.podSelector, self.labels));
    if (!mine.length) return true;
    const rules: Array<{ from?: any[]; to?: any[]; ports?: any[] }> = mine.flatMap((n) => (type === 'Ingress' ? n.spec.ingress : n.spec.egress) ?? []);
    return rules.some((r) => {
      const peers = type === 'Ingress' ? r.from : r.to;
      return (!peers || peers.some((p) => peer(p, other, self.namespace))) && portOk(r.ports);
    });
  };
  return direction(from, to, 'Egress') && direction(to, from, 'Ingress');
}

/** The pods of the rendered workloads, by workload name. */
function pods(docs: K8sObject[]): Record<string, Pod> {
  return Object.fromEntries(
    docs.filter((d) => WORKLOADS.has(d.kind)).map((w) => [w.metadata.name.replace(/^robustrec-/, ''), { labels: w.spec.template.metadata.labels, namespace: w.metadata.namespace ?? '', ports: podSpec(w).containers.flatMap((c) => c.ports ?? []) }]),
  );
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
        for (const s of ['scoring', 'attack', 'dashboard']) expect(kinds).toContain(`Deployment/robustrec-${s}`);
        expect(kinds).toContain('Service/robustrec-dashboard');
        expect(kinds).toContain('NetworkPolicy/robustrec-dashboard');
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

      it('the dashboard: one ClusterIP Service on 8080, the services it reads, nothing else (NetworkPolicies evaluated)', () => {
        const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'robustrec-dashboard')!;
        expect(svc.spec.clusterIP).toBeUndefined(); // a virtual IP: kubectl port-forward svc/robustrec-dashboard 8080
        expect(svc.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http' }]);
        const dash = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'robustrec-dashboard')!;
        expect(dash.spec.replicas).toBe(1);
        const c = podSpec(dash).containers[0]!;
        const flag = (f: string): string | undefined => c.args![c.args!.indexOf(f) + 1];
        expect([flag('--address'), flag('--orchestrator'), flag('--data'), flag('--evaluator'), flag('--scoring')]).toEqual(['0.0.0.0:8080', 'robustrec-orchestrator:50050', 'robustrec-data:50051', 'robustrec-registry:50054', 'robustrec-scoring:50054']);
        expect((c.env ?? []).map((e) => e.name)).toEqual(expect.arrayContaining(['ROBUSTREC_TLS_CERT', 'ROBUSTREC_TLS_KEY', 'ROBUSTREC_TLS_CA', 'ROBUSTREC_TLS_SERVER_NAME', 'ROBUSTREC_TOKEN_FILE']));

        const p = pods(docs);
        const client: Pod = { labels: { 'robustrec.io/client': 'true' }, namespace: 'elsewhere' };
        const stranger: Pod = { labels: { app: 'other' }, namespace: 'elsewhere' };
        const dns: Pod = { labels: { 'k8s-app': 'kube-dns' }, namespace: 'kube-system' };
        // the dashboard reaches the gRPC ports it reads and DNS
        for (const [to, port] of [['orchestrator', 50050], ['data', 50051], ['registry', 50054], ['trainer', 50053], ['scoring', 50054]] as const) expect(admits(docs, p.dashboard!, p[to]!, port), `dashboard -> ${to}`).toBe(true);
        expect(admits(docs, p.dashboard!, dns, 53, 'UDP')).toBe(true);
        // and nothing else: not the attack service, not health or REST ports, not outside
        for (const [to, port] of [['attack', 50052], ['scoring', 8000], ['data', 8081]] as const) expect(admits(docs, p.dashboard!, p[to]!, port), `dashboard -> ${to}:${port}`).toBe(false);
        expect(admits(docs, p.dashboard!, stranger, 443)).toBe(false);
        // clients (any namespace) reach its 8080; no one else does, platform pods included
        expect(admits(docs, client, p.dashboard!, 8080)).toBe(true);
        expect(admits(docs, stranger, p.dashboard!, 8080)).toBe(false);
        expect(admits(docs, p.orchestrator!, p.dashboard!, 8080)).toBe(false);
        expect(admits(docs, client, p.dashboard!, 8081)).toBe(false);
        // the platform's own paths are as before
        expect(admits(docs, p.orchestrator!, p.trainer!, 50053)).toBe(true);
        expect(admits(docs, p.scoring!, p.registry!, 50054)).toBe(true);
        expect(admits(docs, client, p.orchestrator!, 50050)).toBe(true);
        expect(admits(docs, client, p.scoring!, 8000)).toBe(true);
        expect(admits(docs, client, p.data!, 50051)).toBe(false);
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
    // the dashboard: an HTTP probe of its HTTPS port, and a trainer pod left out of its list
    const dash = podSpec(docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'robustrec-dashboard')!).containers[0]!;
    dash.readinessProbe.httpGet.scheme = 'HTTP';
    trainer.spec.replicas = 2;
    expect(checkReferences(docs)).toEqual(expect.arrayContaining([
      'Deployment/robustrec-dashboard container dashboard: readinessProbe scheme HTTP but the server serves HTTPS',
      expect.stringMatching(/^Deployment\/robustrec-dashboard container dashboard: --trainer must list the 2 trainer pods, got 1: /),
    ]));
    // policies add up: without the platform policy's exclusion the dashboard would reach every gRPC port
    const p = pods(docs);
    expect(admits(docs, p.dashboard!, p.attack!, 50052)).toBe(false);
    delete docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata.name === 'robustrec-platform')!.spec.podSelector.matchExpressions;
    expect(admits(docs, p.dashboard!, p.attack!, 50052)).toBe(true);
    podSpec(trainer).containers[0]!.ports![0]!.containerPort = 'grpc' as unknown as number;
    await expect(validateSchema(trainer)).rejects.toThrow(/containerPort must be integer/);
  });
});

describe('docker compose', () => {
  const compose = parse(readFileSync(join(repoRoot, 'deploy', 'docker-compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, { image?: string; command?: string[]; ports?: string[]; healthcheck?: { test: string[] }; depends_on?: Record<string, unknown>; environment?: Record<string, string>; secrets?: string[] }>;
  };

  it('scales: no host port on a scaled service, every service health-checked, mains that exist, the orchestrator included', () => {
    // `--scale trainer=3` would make three containers bind the same host port
    for (const s of ['trainer', 'attack', 'scoring']) expect(compose.services[s]?.ports, s).toBeUndefined();
    // published ports (the orchestrator's, the dashboard's) listen on loopback only
    for (const [name, s] of Object.entries(compose.services)) for (const p of s.ports ?? []) expect(String(p), name).toMatch(/^127\.0\.0\.1:/);
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.healthcheck, name).toBeDefined();
      const main = s.command?.[0];
      expect(main && existsSync(join(repoRoot, main)), `${name}: ${main}`).toBe(true);
    }
    expect(compose.services.orchestrator?.depends_on).toBeDefined();
  });

  it('runs the dashboard from the same image, on services of the file, probed on /healthz over HTTPS, on loopback 8080', () => {
    const d = compose.services.dashboard!;
    const o = compose.services.orchestrator!;
    expect(d.image).toBe(o.image);
    expect(d.command?.[0]).toBe('services/dashboard/src/serve.ts');
    expect(d.ports).toEqual(['127.0.0.1:8080:8080']);
    const flag = (cmd: string[] | undefined, f: string): string => {
      const v = cmd?.[cmd.indexOf(f) + 1] ?? '';
      return /^\$\{\w+:-(.*)\}$/.exec(v)?.[1] ?? v; // ${VAR:-default}: the default
    };
    expect(flag(d.command, '--address')).toBe('0.0.0.0:8080');
    // each address: a service of this file listening on that port (host:port lists, no replica sources)
    for (const f of ['--orchestrator', '--data', '--evaluator', '--trainer'])
      for (const a of flag(d.command, f).split(',')) {
        const [host, port] = a.split(':');
        expect(compose.services[host!], `${f} ${a}`).toBeDefined();
        expect(flag(compose.services[host!]!.command, '--address'), `${f} ${a}`).toBe(`0.0.0.0:${port}`);
      }
    // it serves HTTPS with the certificate the others use, and sends their token
    for (const k of ['ROBUSTREC_TLS_CERT', 'ROBUSTREC_TLS_KEY', 'ROBUSTREC_TLS_CA', 'ROBUSTREC_TLS_SERVER_NAME', 'ROBUSTREC_TOKEN_FILE']) expect(d.environment?.[k], k).toBe(o.environment?.[k]);
    expect(d.secrets).toEqual(expect.arrayContaining(['tls-cert', 'tls-key', 'tls-ca', 'token']));
    expect(d.healthcheck?.test).toEqual(['CMD', 'node', 'deploy/healthcheck.mjs', 'https://127.0.0.1:8080/healthz']);
    expect(Object.keys(d.depends_on ?? {})).toContain('orchestrator');
  });
});
