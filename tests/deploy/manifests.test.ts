import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseServerOptions, unknownEnvironment } from '../../server/options.js';
import { modelModule, readManifests, unknownFieldErrors, validateSchema, yamlFilesUnder, type Json, type Manifest } from '../helpers/k8s-manifests.js';
import { startTestServer } from '../helpers/server.js';

/**
 * deploy/ checked without a cluster (docs/kubernetes.md says what this does and does not cover): every object
 * against the Kubernetes JSON schemas of kubernetes-models (and @kubernetes-models/prometheus-operator), with no
 * field the API types do not know; the kustomizations' references; and what the manifests promise about the server.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const files = yamlFilesUnder(DEPLOY);
const all = files.flatMap((f) => readManifests(DEPLOY, f));
/** API objects (kustomize files and Helm values are not). */
const objects = all.filter((m) => m.object.apiVersion && modelModule(m.object.apiVersion, m.object.kind));
const one = (kind: string, file?: string): Json => {
  const found = objects.filter((m) => m.object.kind === kind && (!file || m.file === file));
  expect(found, `one ${kind}`).toHaveLength(1);
  return found[0].object;
};

/** server/start.ts: after --drain-timeout, requests still running are cut and given 5 s; then connections 5 s more. */
const SERVER_CLOSE_BACKSTOPS_S = 5 + 5;

describe('deploy/ manifests', () => {
  it('every API object validates against the Kubernetes schemas', async () => {
    expect(objects.map((m) => `${m.file}:${m.object.kind}`).sort()).toEqual([
      'deployment.yaml:Deployment', 'hpa.yaml:HorizontalPodAutoscaler', 'monitoring/servicemonitor.yaml:ServiceMonitor',
      'pdb.yaml:PodDisruptionBudget', 'pvc.yaml:PersistentVolumeClaim', 'secret.example.yaml:Secret', 'service.yaml:Service',
    ]);
    for (const m of objects) await expect(validateSchema(m.object), m.file).resolves.toBeUndefined();
    // The validator is live: a port given as a name where a number belongs is refused.
    const broken = structuredClone(one('Deployment'));
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    await expect(validateSchema(broken)).rejects.toThrow(/containerPort must be integer/);
  });

  it('no object has a field the API does not know (as kubectl --validate=strict)', () => {
    // One compilation: the manifests, and a copy of the Deployment with a misspelled field that must be the only error.
    const typo: Manifest = { file: 'typo.yaml', object: structuredClone(one('Deployment')) };
    const c = typo.object.spec.template.spec.containers[0];
    c.readinesProbe = c.readinessProbe;
    delete c.readinessProbe;
    const errors = unknownFieldErrors([...objects, typo], ROOT);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^typo\.yaml \(Deployment unir-serve\).*'"?readinesProbe"?' does not exist/);
  }, 60_000);

  it('the kustomizations name existing files; every object is in one, except the Secret example', () => {
    const kustomizations = all.filter((m) => m.object.kind === 'Kustomization');
    expect(kustomizations.map((k) => k.file).sort()).toEqual(['kustomization.yaml', 'monitoring/kustomization.yaml']);
    const listed = kustomizations.flatMap((k) => (k.object.resources as string[]).map((r) => join(dirname(k.file), r)));
    for (const r of listed) expect(existsSync(join(DEPLOY, r)), r).toBe(true);
    expect(objects.map((m) => m.file).filter((f) => !listed.includes(f))).toEqual(['secret.example.yaml']);
  });

  it('the Deployment: valid server flags, polling the read-only RWX modules volume, probes, drain, keys, GPU', () => {
    const deployment = one('Deployment');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(container.command).toEqual(['node', 'dist/server/cli.js']);
    const options = parseServerOptions(container.args, {});
    expect(options.ep).toBe('cuda');
    expect(options.host).toBe('0.0.0.0');
    expect(options.watchPoll).toBeGreaterThan(0);
    const port = container.ports.find((p: Json) => p.containerPort === options.port);
    expect(port?.name).toBe('http');

    const mount = container.volumeMounts.find((v: Json) => v.mountPath === options.reasonersDir);
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v: Json) => v.name === mount.name);
    expect(volume.persistentVolumeClaim.readOnly).toBe(true);
    expect(one('PersistentVolumeClaim').metadata.name).toBe(volume.persistentVolumeClaim.claimName);
    expect(one('PersistentVolumeClaim').spec.accessModes).toEqual(['ReadWriteMany']);

    expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/health', port: 'http' });
    const preStopSleep = Number(container.lifecycle.preStop.exec.command[1]);
    expect(container.lifecycle.preStop.exec.command[0]).toBe('sleep');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStopSleep + options.drainTimeout + SERVER_CLOSE_BACKSTOPS_S);

    const secret = one('Secret');
    const fromSecret = Object.fromEntries(container.env.filter((e: Json) => e.valueFrom?.secretKeyRef).map((e: Json) => [e.name, e.valueFrom.secretKeyRef]));
    // Both keys from the Secret, never in the manifest: the admin token and the inference API's key (--api-key).
    expect(Object.keys(fromSecret).sort()).toEqual(['UNIR_ADMIN_TOKEN', 'UNIR_API_KEY']);
    for (const ref of Object.values(fromSecret) as Json[]) {
      expect(ref.name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData)).toContain(ref.key);
    }
    expect(container.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  it('every UNIR_ variable the container sees is a server option (its env, and no Service links)', () => {
    const pod = one('Deployment').spec.template.spec;
    const env: Record<string, string> = Object.fromEntries(pod.containers[0].env.map((e: Json) => [e.name, e.value ?? 'from-a-secret']));
    // Unless enableServiceLinks is false, Kubernetes adds <SERVICE>_SERVICE_HOST, <SERVICE>_PORT, ... for every
    // Service of the namespace: a Service named unir-serve makes UNIR_SERVE_*, one named unir would set UNIR_PORT.
    if (pod.enableServiceLinks !== false) {
      for (const m of objects.filter((o) => o.object.kind === 'Service')) {
        const prefix = m.object.metadata.name.toUpperCase().replace(/-/g, '_');
        for (const p of m.object.spec.ports) {
          Object.assign(env, { [`${prefix}_SERVICE_HOST`]: '10.0.0.1', [`${prefix}_SERVICE_PORT`]: String(p.port), [`${prefix}_PORT`]: `tcp://10.0.0.1:${p.port}` });
        }
      }
    }
    expect(unknownEnvironment(env)).toEqual([]);
    expect(() => parseServerOptions(pod.containers[0].args, env)).not.toThrow();
  });

  it('Service, PodDisruptionBudget, ServiceMonitor and HPA select and target the Deployment\'s pods', () => {
    const deployment = one('Deployment');
    const labels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
    expect(selects(one('Service').spec.selector)).toBe(true);
    expect(one('Service').spec.ports[0].targetPort).toBe('http');
    expect(selects(one('PodDisruptionBudget').spec.selector.matchLabels)).toBe(true);
    expect(one('ServiceMonitor').spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(one('HorizontalPodAutoscaler').spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(deployment.spec.replicas).toBeUndefined(); // the HPA owns it
  });

  it('the HPA scales on the metric the adapter rule serves, from a series a real server exposes in /metrics', async () => {
    const hpa = one('HorizontalPodAutoscaler');
    const metric = hpa.spec.metrics[0].pods.metric.name;
    const values = all.find((m) => m.file === 'monitoring/prometheus-adapter-values.yaml')!.object;
    const rule = values.rules.custom.find((r: Json) => r.name.as === metric);
    expect(rule, `an adapter rule serves ${metric}`).toBeDefined();
    const series = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{/.exec(rule.seriesQuery)![1];
    expect(new RegExp(rule.name.matches).test(series)).toBe(true);
    expect(rule.resources.overrides).toEqual({ namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
    const server = await startTestServer();
    try {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toContain(`# TYPE ${series} gauge`);
      expect(text).toMatch(new RegExp(`^${series} \\d+$`, 'm'));
    } finally {
      await server.close();
    }
  });
});
