"""Every CQL statement the services run is prepared (or bound), never text built from values.

A scan of the services' code: the statement given to `execute`, `execute_async` or `prepare` must
not be text assembled at run time (an f-string, `+`, `%` or `.format`), and `execute` must not be
given literal text at all (a statement run more than once is prepared once, in a repository).
Schema DDL is the one exception: identifiers such as the keyspace cannot be bound, so
services/common/schema.py validates them instead (CassandraSettings).
"""

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
DDL_MODULES = {SERVICES / "common" / "schema.py"}


def assembled(node: ast.AST) -> bool:
    """Whether an expression builds text at run time."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return any(
            isinstance(side, ast.Constant | ast.JoinedStr) for side in (node.left, node.right)
        )
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


def statement_calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("execute", "execute_async", "prepare")
            and node.args
        ):
            yield node.func.attr, node.args[0], node.lineno


def offences(path: Path) -> list[str]:
    found = []
    for method, statement, line in statement_calls(path):
        if assembled(statement):
            found.append(f"{path.name}:{line}: {method}() of text built at run time")
        elif method != "prepare" and isinstance(statement, ast.Constant):
            found.append(f"{path.name}:{line}: {method}() of literal CQL: prepare it once")
    return found


@pytest.mark.parametrize(
    "path",
    sorted(set(SERVICES.rglob("*.py")) - DDL_MODULES),
    ids=lambda path: str(path.relative_to(SERVICES)),
)
def test_statements_are_prepared_not_assembled(path):
    assert offences(path) == []


def test_the_scan_finds_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "session.execute(f'SELECT * FROM t WHERE k = {key}')\n"
        "session.execute('SELECT * FROM t')\n"
        "session.prepare('SELECT * FROM ' + table)\n"
        "session.prepare('SELECT %s' % column)\n"
        "session.execute_async('SELECT {}'.format(column))\n"
        "session.execute(self.select_video, (video_id,))\n"
        "session.prepare('SELECT * FROM t WHERE k = ?')\n"
    )
    assert [offence.split(":")[1] for offence in offences(bad)] == ["1", "2", "3", "4", "5"]
