import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { applyPatch, type Operation } from 'fast-json-patch';
import { parse, parseAllDocuments } from 'yaml';

/**
 * A renderer of the subset of kustomize that deploy/k8s uses, so `npm test` can build every
 * overlay without a kubectl binary (there is no maintained JavaScript kustomize). Supported
 * kustomization fields, in kustomize's order of application: resources (files and
 * directories with their own kustomization.yaml), patches (JSON 6902 operations, inline or in
 * a file, with a kind + name target), namespace, replicas, images. Any other field is refused,
 * and so is a patch or replica entry that matches nothing, so the renderer cannot silently
 * render something kustomize would not. Where kubectl is installed, test/k8s.test.ts checks
 * this renderer's output equals `kubectl kustomize`'s for every overlay.
 */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; [k: string]: unknown };

const FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'replicas', 'images']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'CustomResourceDefinition']);

export function render(dir: string): K8sObject[] {
  const file = join(dir, 'kustomization.yaml');
  const k = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  for (const key of Object.keys(k)) if (!FIELDS.has(key)) throw new Error(`${file}: field ${key} is not supported by this renderer`);
  const docs: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const p = resolve(dir, r);
    if (!existsSync(p)) throw new Error(`${file}: resource ${r} not found`);
    if (statSync(p).isDirectory()) docs.push(...render(p));
    else
      for (const d of parseAllDocuments(readFileSync(p, 'utf8'))) {
        if (d.errors.length) throw new Error(`${p}: ${d.errors[0]!.message}`);
        const o = d.toJS() as K8sObject | null;
        if (o) docs.push(o);
      }
  }
  for (const [i, p] of (k.patches ?? []).entries()) {
    const ops = parse(p.patch ?? readFileSync(resolve(dir, p.path), 'utf8')) as Operation[];
    if (!Array.isArray(ops)) throw new Error(`${file}: patches[${i}] is not a list of JSON 6902 operations (strategic merge patches are not supported)`);
    const targets = docs.filter((d) => (!p.target?.kind || d.kind === p.target.kind) && (!p.target?.name || d.metadata.name === p.target.name));
    if (!targets.length) throw new Error(`${file}: patches[${i}] matches no resource (${JSON.stringify(p.target)})`);
    for (const t of targets) applyPatch(t, structuredClone(ops), true, true);
  }
  if (k.namespace) for (const d of docs) if (!CLUSTER_SCOPED.has(d.kind)) d.metadata.namespace = k.namespace;
  for (const r of k.replicas ?? []) {
    const ws = docs.filter((d) => d.metadata.name === r.name && ['Deployment', 'StatefulSet', 'ReplicaSet'].includes(d.kind));
    if (!ws.length) throw new Error(`${file}: replicas entry ${r.name} matches no workload`);
    for (const w of ws) w.spec.replicas = r.count;
  }
  for (const img of k.images ?? []) {
    for (const d of docs) {
      const pod = d.spec?.template?.spec;
      for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
        const [name] = splitImage(c.image);
        if (name !== img.name) continue;
        c.image = `${img.newName ?? name}${img.newTag ? `:${img.newTag}` : splitImage(c.image)[1] ? `:${splitImage(c.image)[1]}` : ''}`;
      }
    }
  }
  return docs;
}

/** "repo/name:tag" -> [repo/name, tag] (a registry port is not a tag). */
export function splitImage(image: string): [string, string | undefined] {
  const at = image.indexOf('@');
  const base = at >= 0 ? image.slice(0, at) : image;
  const i = base.lastIndexOf(':');
  return i > base.lastIndexOf('/') ? [base.slice(0, i), base.slice(i + 1)] : [base, undefined];
}
