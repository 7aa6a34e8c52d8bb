#!/bin/sh
# Generates the Python stubs of RobustRec's contracts (AttackGenerator and what it imports:
# attack, data, common) into OUT (default ./gen), with protoc >= 3.15 (proto3 `optional`) and
# the gRPC Python plugin. Debian/Ubuntu: apt-get install protobuf-compiler protobuf-compiler-grpc.
#   ./generate_stubs.sh [OUT]        PROTO_DIR=... to point at another copy of proto/
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto=${PROTO_DIR:-$here/../../../proto}
out=${1:-$here/gen}

command -v protoc >/dev/null || { echo "protoc not found (Debian: apt-get install protobuf-compiler)" >&2; exit 1; }
version=$(protoc --version | sed 's/^libprotoc //')
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
# protoc 3.x needs 3.15 for proto3 optional; 4.x and later (versions 21+) all have it
if [ "$major" -eq 3 ] && [ "$minor" -lt 15 ] || [ "$major" -lt 3 ]; then
  echo "protoc $version is too old: proto3 optional fields need protoc >= 3.15 (Debian bookworm's protobuf-compiler is 3.21)" >&2
  exit 1
fi
plugin=${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || true)}
[ -n "$plugin" ] || { echo "grpc_python_plugin not found (Debian: apt-get install protobuf-compiler-grpc)" >&2; exit 1; }

mkdir -p "$out"
protoc -I "$proto" --python_out="$out" --grpc_python_out="$out" --plugin=protoc-gen-grpc_python="$plugin" \
  "$proto/robustrec/v1/common.proto" "$proto/robustrec/v1/data.proto" \
  "$proto/robustrec/v1/attack.proto" "$proto/robustrec/v1/attack_generator.proto"
echo "stubs written to $out"
