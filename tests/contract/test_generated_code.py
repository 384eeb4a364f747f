"""The committed *_pb2 modules are exactly what `make protos` generates from protos/."""

from scripts import generate_protos


def test_generated_modules_are_up_to_date(tmp_path):
    generate_protos.generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.py")}
    committed = {
        p.relative_to(generate_protos.PROTOS): p.read_bytes()
        for p in generate_protos.PROTOS.rglob("*_pb2*.py")
    }
    stale = sorted(
        str(path)
        for path in fresh.keys() | committed.keys()
        if fresh.get(path) != committed.get(path)
    )
    assert not stale, f"generated code is stale, run `make protos`: {stale}"
