"""Generate the Python protobuf and gRPC modules from protos/ (run by `make protos`).

The generated modules are committed beside their .proto files, so that a checkout (or the docker
image) imports them without grpcio-tools; tests/contract/test_generated_code.py regenerates them
into a temporary folder and fails when the committed ones are stale.
"""

import pathlib
import sys

import grpc_tools
from grpc_tools import protoc

PROTOS = pathlib.Path(__file__).resolve().parent.parent / "protos"
WELL_KNOWN_TYPES = pathlib.Path(grpc_tools.__file__).parent / "_proto"


def proto_files() -> list[pathlib.Path]:
    return sorted(PROTOS.rglob("*.proto"))


def generate(out_dir: pathlib.Path = PROTOS) -> None:
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTOS}",
        f"--proto_path={WELL_KNOWN_TYPES}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(path.relative_to(PROTOS)) for path in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the messages above")


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else PROTOS)
