import { describe, expect, it } from 'vitest';
import { ACCESS, accessOf, descriptors } from '../src';

/**
 * Every RPC of every service a platform port can serve (the compiled descriptors: our
 * contracts, the Open Inference Protocol, health and reflection) is classified in ACCESS,
 * and ACCESS names nothing that does not exist: a new RPC cannot slip through the token
 * check unclassified, and a renamed one cannot leave a stale entry behind.
 */
describe('RPC access classification', () => {
  const services = [...descriptors().registry].flatMap((d) => (d.kind === 'service' ? [d] : []));

  it('classifies every method of every service', () => {
    expect(services.length).toBeGreaterThanOrEqual(10);
    const missing = services.flatMap((s) => s.methods.filter((m) => !ACCESS[s.typeName]?.[m.name]).map((m) => `${s.typeName}/${m.name}`));
    expect(missing, 'add these to libs/grpc/src/access.ts').toEqual([]);
  });

  it('lists no method that does not exist', () => {
    const known = new Set(services.flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`)));
    const stale = Object.entries(ACCESS).flatMap(([s, ms]) => Object.keys(ms).map((m) => `${s}/${m}`)).filter((k) => !known.has(k));
    expect(stale).toEqual([]);
  });

  it('treats the mutating RPCs the issue names as mutating, health as open, unknown paths as mutating', () => {
    for (const p of [
      '/robustrec.v1.DataService/ImportDataset',
      '/robustrec.v1.DataService/DerivePoisonedDataset',
      '/robustrec.v1.AttackService/Generate',
      '/robustrec.v1.AttackService/RegisterGenerator',
      '/robustrec.v1.TrainerService/StartJob',
      '/robustrec.v1.TrainerService/CancelJob',
      '/robustrec.v1.ModelRegistryService/RegisterModel',
      '/robustrec.v1.ExperimentService/SubmitExperiment',
      '/robustrec.v1.ExperimentService/CancelExperiment',
    ])
      expect(accessOf(p), p).toBe('mutate');
    expect(accessOf('/grpc.health.v1.Health/Check')).toBe('open');
    expect(accessOf('/robustrec.v1.DataService/ListDatasets')).toBe('read');
    expect(accessOf('/robustrec.v1.DataService/DeleteEverything')).toBe('mutate');
    expect(accessOf('garbage')).toBe('mutate');
  });
});
