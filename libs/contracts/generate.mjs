// Generates everything derived from proto/ (never committed, never edited):
//  - ts-proto grpc-js code (buf generate, see buf.gen.yaml) in src/gen/
//  - the compiled descriptors servers answer reflection with and validate requests against:
//    src/gen/robustrec.binpb (our contracts, with their comments), and those of the two
//    standard services every port also serves, grpc.health.v1 and grpc.reflection.v1/v1alpha,
//    built from the .proto files their npm packages ship.
// Run from anywhere: `npm run generate` (root) or nx's cached `generate` target.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'package.json'));
const buf = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'buf.cmd' : 'buf');
const gen = join('libs', 'contracts', 'src', 'gen');
const run = (...args) => execFileSync(buf, args, { cwd: root, stdio: 'inherit' });

// buf.gen.yaml has clean: true, so the descriptors are built after the code
run('generate');
run('build', '-o', join(gen, 'robustrec.binpb'));
const healthDir = join(dirname(require.resolve('grpc-health-check/package.json')), 'proto');
run('build', healthDir, '--exclude-source-info', '-o', join(gen, 'health.binpb'));
const reflectionDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
run('build', reflectionDir, '--path', join(reflectionDir, 'grpc'), '--exclude-source-info', '-o', join(gen, 'reflection.binpb'));
