"""The project's protos against the KillrVideo contract (docs/spec/killrvideo-api.md).

The spec's tables live in killrvideo_api.yaml. Both the descriptors compiled afresh from protos/ and
the committed generated modules are walked, so an edited .proto fails here whether or not
`make protos` was run after it.
"""

import importlib
import pathlib
import shutil

import pytest
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from grpc_tools import protoc

from scripts import generate_protos

CONTRACT = yaml.safe_load((pathlib.Path(__file__).parent / "killrvideo_api.yaml").read_text())

SCALAR_TYPE_NAMES = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_BOOL: "bool",
}


def compile_protos(protos: pathlib.Path, out_dir: pathlib.Path) -> descriptor_pool.DescriptorPool:
    descriptor_set = out_dir / "killrvideo.pb"
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={protos}",
            f"--proto_path={generate_protos.WELL_KNOWN_TYPES}",
            "--include_imports",
            f"--descriptor_set_out={descriptor_set}",
            *(str(p.relative_to(protos)) for p in sorted(protos.rglob("*.proto"))),
        ]
    )
    assert status == 0, f"protoc could not compile {protos}"
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return pool


def pool_of_generated_modules() -> descriptor_pool.DescriptorPool:
    for proto in generate_protos.proto_files():
        module = proto.relative_to(generate_protos.PROTOS).with_suffix("")
        importlib.import_module(".".join(module.parts) + "_pb2")
    return descriptor_pool.Default()


@pytest.fixture(scope="module", params=["compiled from protos/", "generated modules"])
def pool(request, tmp_path_factory):
    if request.param == "generated modules":
        return pool_of_generated_modules()
    return compile_protos(generate_protos.PROTOS, tmp_path_factory.mktemp("compiled"))


def fields_of(pool, message_name: str) -> dict:
    return {
        field.name: {
            "number": field.number,
            "type": type_name(field),
            "repeated": field.is_repeated,
        }
        for field in pool.FindMessageTypeByName(message_name).fields
    }


def type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return field.enum_type.full_name
    return SCALAR_TYPE_NAMES.get(field.type, f"unexpected type {field.type}")


@pytest.mark.parametrize("service_name", sorted(CONTRACT["services"]))
def test_service_has_exactly_the_contract_rpcs(pool, service_name):
    service = pool.FindServiceByName(service_name)
    actual = {
        method.name: {"input": method.input_type.full_name, "output": method.output_type.full_name}
        for method in service.methods
    }
    assert actual == CONTRACT["services"][service_name]


@pytest.mark.parametrize("message_name", sorted(CONTRACT["messages"]))
def test_message_has_exactly_the_contract_fields(pool, message_name):
    assert fields_of(pool, message_name) == CONTRACT["messages"][message_name]


@pytest.mark.parametrize("enum_name", sorted(CONTRACT["enums"]))
def test_enum_has_exactly_the_contract_values(pool, enum_name):
    enum = pool.FindEnumTypeByName(enum_name)
    assert {value.name: value.number for value in enum.values} == CONTRACT["enums"][enum_name]


def test_protos_define_nothing_beyond_the_contract(pool):
    """A message or service the spec does not have is a typo of one it does."""
    defined = set()
    for proto in generate_protos.proto_files():
        file = pool.FindFileByName(str(proto.relative_to(generate_protos.PROTOS)))
        defined |= {m.full_name for m in file.message_types_by_name.values()}
        defined |= {s.full_name for s in file.services_by_name.values()}
    assert defined == set(CONTRACT["messages"]) | set(CONTRACT["services"])


def test_a_changed_field_number_breaks_the_contract(tmp_path):
    protos = tmp_path / "protos"
    shutil.copytree(generate_protos.PROTOS, protos, ignore=shutil.ignore_patterns("*.py"))
    search = protos / "killrvideo/search/search_service.proto"
    search.write_text(search.read_text().replace("int32 page_size = 2;", "int32 page_size = 7;", 1))

    pool = compile_protos(protos, tmp_path)

    name = "killrvideo.search.SearchVideosRequest"
    assert fields_of(pool, name)["page_size"]["number"] == 7
    assert fields_of(pool, name) != CONTRACT["messages"][name]
