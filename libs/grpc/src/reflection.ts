import { create, fromBinary, toBinary, type DescFile, type DescMessage } from '@bufbuild/protobuf';
import { status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { invalidArgument, notFound } from '@robustrec/core';
import { descriptors, withDependencies } from './descriptors';
import { requestStream } from './handlers';

/**
 * grpc.reflection.v1 (and v1alpha, which older clients such as grpcurl < 1.9 speak) over
 * the descriptors `npm run generate` compiles with buf: the real file names
 * ("robustrec/v1/data.proto"), the real map-entry types (ParamsEntry), the comments. Each
 * port lists only what it serves, plus health and reflection. Replaces @grpc/reflection,
 * which rebuilt descriptors from proto-loader's view of the files and got both wrong.
 */

export const HEALTH_SERVICE = 'grpc.health.v1.Health';
const VERSIONS = ['v1', 'v1alpha'] as const;
export const REFLECTION_SERVICES = VERSIONS.map((v) => `grpc.reflection.${v}.ServerReflection`);

/** The request fields we read (protobuf-es shape: the oneof under messageRequest). */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: 'fileByFilename' | 'fileContainingSymbol' | 'allExtensionNumbersOfType' | 'listServices'; value: string }
    | { case: 'fileContainingExtension'; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

type ResponseBody =
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: 'allExtensionNumbersResponse'; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: 'listServicesResponse'; value: { service: Array<{ name: string }> } }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };

/** Answers one reflection request for a port serving `served` (full service names). */
export function answerReflection(served: readonly string[], req: ReflectionRequest): ResponseBody {
  const { registry, fileBytes } = descriptors();
  const files = (f: DescFile): ResponseBody => ({
    case: 'fileDescriptorResponse',
    value: { fileDescriptorProto: withDependencies(f).map((d) => fileBytes.get(d.proto.name)!) },
  });
  const listed = [...served, HEALTH_SERVICE, ...REFLECTION_SERVICES];
  const r = req.messageRequest;
  switch (r.case) {
    case 'listServices':
      return { case: 'listServicesResponse', value: { service: listed.map((name) => ({ name })) } };
    case 'fileByFilename': {
      const f = [...registry.files].find((x) => x.proto.name === r.value);
      if (!f) throw notFound('file', r.value);
      return files(f);
    }
    case 'fileContainingSymbol': {
      const f = fileOfSymbol(r.value, listed);
      if (!f) throw notFound('symbol', r.value);
      return files(f);
    }
    case 'fileContainingExtension':
      // the contracts declare no extensions
      throw notFound('extension', `${r.value.containingType} #${r.value.extensionNumber}`);
    case 'allExtensionNumbersOfType': {
      if (!registry.getMessage(r.value)) throw notFound('message type', r.value);
      return { case: 'allExtensionNumbersResponse', value: { baseTypeName: r.value, extensionNumber: [] } };
    }
    default:
      throw invalidArgument('message_request', 'one of file_by_filename, file_containing_symbol, file_containing_extension, all_extension_numbers_of_type, list_services is required');
  }
}

/**
 * The file defining a fully qualified symbol: a message, enum or service (only those served
 * here), or a member of one (method, field, enum value).
 */
function fileOfSymbol(symbol: string, served: readonly string[]): DescFile | undefined {
  const { registry } = descriptors();
  const name = symbol.replace(/^\./, '');
  const owner = (n: string): DescFile | undefined => {
    const d = registry.get(n);
    if (!d) return undefined;
    if (d.kind === 'service') return served.includes(d.typeName) ? d.file : undefined;
    return d.file;
  };
  const direct = owner(name);
  if (direct) return direct;
  const dot = name.lastIndexOf('.');
  if (dot < 0) return undefined;
  const parent = registry.get(name.slice(0, dot));
  const member = name.slice(dot + 1);
  if (!parent) return undefined;
  if (parent.kind === 'service' && parent.methods.some((m) => m.name === member)) return owner(parent.typeName);
  if (parent.kind === 'message' && parent.fields.some((f) => f.name === member)) return parent.file;
  if (parent.kind === 'enum' && parent.values.some((v) => v.name === member)) return parent.file;
  return undefined;
}

/**
 * The ServerReflection services (v1 and v1alpha) for a port serving `served`, as grpc-js
 * definitions with their implementations. Each request is answered in order on the same
 * stream; a failed one gets an error_response, as the protocol says, and the stream goes on.
 */
export function reflectionServices(served: readonly string[]): Array<{ name: string; definition: ServiceDefinition; implementation: UntypedServiceImplementation }> {
  const { registry } = descriptors();
  return VERSIONS.map((v) => {
    const reqDesc = registry.getMessage(`grpc.reflection.${v}.ServerReflectionRequest`) as DescMessage;
    const resDesc = registry.getMessage(`grpc.reflection.${v}.ServerReflectionResponse`) as DescMessage;
    const name = `grpc.reflection.${v}.ServerReflection`;
    const definition: ServiceDefinition = {
      ServerReflectionInfo: {
        path: `/${name}/ServerReflectionInfo`,
        requestStream: true,
        responseStream: true,
        requestSerialize: (m: unknown) => Buffer.from(toBinary(reqDesc, create(reqDesc, m as never))),
        requestDeserialize: (b: Buffer) => fromBinary(reqDesc, b),
        responseSerialize: (m: unknown) => Buffer.from(toBinary(resDesc, create(resDesc, m as never))),
        responseDeserialize: (b: Buffer) => fromBinary(resDesc, b),
      },
    };
    const respond = (req: ReflectionRequest | undefined, body: ResponseBody): unknown => ({
      validHost: req?.host ?? '',
      originalRequest: req,
      messageResponse: body,
    });
    const implementation: UntypedServiceImplementation = {
      ServerReflectionInfo: requestStream<ReflectionRequest, unknown>(
        async (req) => respond(req, answerReflection(served, req)),
        (st) => respond(undefined, { case: 'errorResponse', value: { errorCode: st.code ?? status.UNKNOWN, errorMessage: st.details ?? '' } }),
      ),
    };
    return { name, definition, implementation };
  });
}
