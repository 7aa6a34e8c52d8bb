import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { attack } from '@robustrec/contracts';
import { invalidArgument } from '@robustrec/core';
import { call, createClient } from '@robustrec/grpc';
import { startAttackService } from '@robustrec/attack-service';
import { startDataService } from '@robustrec/data-service';

/**
 * `robustrec generators register|list|remove|test`: external attack generators
 * (docs/plugins.md). Against the attack service given with --attack, or, without it, against
 * the data and attack services started in this process on the home (registrations are stored
 * there and used by later `robustrec run` calls on the same home).
 */
export const GENERATORS_USAGE = `  generators list            the generators the attack service knows (built-in and registered)
  generators register NAME ADDRESS [--white-box]
                            register the AttackGenerator served at ADDRESS under NAME (black-box unless --white-box)
  generators remove NAME    forget a registered generator
  generators test NAME ADDRESS [--white-box] [--timeout S]
                            run it once on a small synthetic dataset and report every rule it breaks (exit 1 if any)
                            token for register/remove/test with --attack: ROBUSTREC_ATTACK_TOKEN or --token-file FILE`;

export interface GeneratorsOptions {
  home: string;
  /** Attack service address (--attack); in-process services when absent. */
  attack?: string;
  /** File holding the registration token (--token-file). */
  tokenFile?: string;
  whiteBox?: boolean;
  /** Generation deadline of `test` in seconds (--timeout). */
  timeout?: string;
  out?: (line: string) => void;
}

/** The registration token of a remote attack service: --token-file, else ROBUSTREC_ATTACK_TOKEN. */
function remoteToken(o: GeneratorsOptions): string {
  if (o.tokenFile) {
    const t = readFileSync(o.tokenFile, 'utf8').trim();
    if (!t) throw invalidArgument('--token-file', `${o.tokenFile} is empty`);
    return t;
  }
  const t = process.env.ROBUSTREC_ATTACK_TOKEN;
  if (!t) throw invalidArgument('token', 'the attack service needs its registration token: set ROBUSTREC_ATTACK_TOKEN or pass --token-file FILE');
  return t;
}

/** Runs fn against the given attack service, or against data and attack services started here on the home (with a one-off token). */
async function withAttackService<T>(o: GeneratorsOptions, needsToken: boolean, fn: (client: attack.AttackServiceClient, token: string) => Promise<T>): Promise<T> {
  if (o.attack) {
    const client = createClient(attack.AttackServiceClient, o.attack);
    try {
      return await fn(client, needsToken ? remoteToken(o) : '');
    } finally {
      client.close();
    }
  }
  const token = randomBytes(16).toString('hex');
  const dataSrv = await startDataService({ home: o.home });
  try {
    const attackSrv = await startAttackService({ home: o.home, dataAddress: dataSrv.address, token });
    const client = createClient(attack.AttackServiceClient, attackSrv.address);
    try {
      return await fn(client, token);
    } finally {
      client.close();
      await attackSrv.shutdown();
    }
  } finally {
    await dataSrv.shutdown();
  }
}

const access = (whiteBox: boolean): string => (whiteBox ? 'white-box: reads every split' : 'black-box: reads the training split only');

/** Runs one `generators` subcommand; resolves to the process exit code. */
export async function generatorsCommand(args: string[], o: GeneratorsOptions): Promise<number> {
  const out = o.out ?? ((l: string) => console.log(l));
  const [sub, name, address] = args;
  const need = (v: string | undefined, what: string): string => {
    if (!v) throw invalidArgument(what, `missing: robustrec generators ${sub} ${sub === 'remove' ? 'NAME' : 'NAME ADDRESS'}`);
    return v;
  };
  switch (sub) {
    case 'list':
      return withAttackService(o, false, async (c) => {
        for (const g of (await call(c, c.listGenerators, {})).generators) {
          const params = Object.entries(g.defaultParams).map(([k, v]) => `${k}=${v}`);
          out(`${g.name.padEnd(14)} ${g.builtin ? 'built-in' : `${g.address} (${access(g.whiteBox)})`}  ${g.description}${params.length ? `  [${params.join(' ')}]` : ''}`);
        }
        return 0;
      });
    case 'register': {
      const n = need(name, 'NAME');
      const a = need(address, 'ADDRESS');
      return withAttackService(o, true, async (c, token) => {
        const g = (await call(c, c.registerGenerator, { address: a, token, name: n, whiteBox: o.whiteBox ?? false })).generator!;
        out(`registered ${g.name} at ${g.address} (${access(g.whiteBox)}): ${g.description}`);
        return 0;
      });
    }
    case 'remove': {
      const n = need(name, 'NAME');
      return withAttackService(o, true, async (c, token) => {
        await call(c, c.unregisterGenerator, { name: n, token });
        out(`removed ${n}`);
        return 0;
      });
    }
    case 'test': {
      const n = need(name, 'NAME');
      const a = need(address, 'ADDRESS');
      const timeout = o.timeout === undefined ? 60 : Number(o.timeout);
      if (!(timeout > 0) || !Number.isFinite(timeout)) throw invalidArgument('--timeout', `seconds > 0, got ${o.timeout}`);
      return withAttackService(o, true, async (c, token) => {
        const res = await call(c, c.testGenerator, { address: a, token, name: n, whiteBox: o.whiteBox ?? false, datasetId: '', timeoutSeconds: timeout }, { deadlineMs: (timeout + 120) * 1000 });
        const g = res.generator!;
        out(`tested ${n} at ${a} (${access(g.whiteBox)}) on dataset ${res.datasetId}: ${res.numProfiles} profiles in ${res.seconds.toFixed(1)} s`);
        for (const v of res.violations) out(`BROKEN ${v.rule}: ${v.message}  [rule: ${v.description}]`);
        out(res.violations.length ? `${n} broke ${res.violations.length} of ${res.rulesChecked.length} rules` : `${n} kept all ${res.rulesChecked.length} rules: ${res.rulesChecked.join(', ')}`);
        return res.violations.length ? 1 : 0;
      });
    }
    default:
      throw invalidArgument('generators', `one of list, register, remove, test (got ${sub ?? 'nothing'})\n${GENERATORS_USAGE}`);
  }
}
