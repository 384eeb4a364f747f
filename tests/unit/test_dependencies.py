"""Every library the code imports is declared in pyproject.toml, not merely installed as another
package's dependency (which an upgrade of that package may drop): what runs in production
(services, localcql, examples) among the dependencies; the developer's tools (scripts,
benchmarks) and the tests among them or the dev extra."""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"services", "localcql", "scripts", "benchmarks", "examples", "tests", "killrvideo"}
RUNTIME = ("services", "localcql", "examples")
TOOLS = ("scripts", "benchmarks", "tests")


def normalized(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group()
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*groups: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for group in groups:
        requirements += project["optional-dependencies"][group]
    return {normalized(requirement) for requirement in requirements}


def imported_modules(*folders: str) -> set[str]:
    modules = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.partition(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules.add(node.module.partition(".")[0])
    local = {path.stem for path in (ROOT / "tests").rglob("*.py")}  # sibling imports in tests
    return modules - set(sys.stdlib_module_names) - FIRST_PARTY - local


def undeclared(modules: set[str], allowed: set[str]) -> dict[str, list[str]]:
    providers = importlib.metadata.packages_distributions()
    return {
        module: providers.get(module, ["(no installed distribution)"])
        for module in sorted(modules)
        if not {normalized(name) for name in providers.get(module, [])} & allowed
    }


def test_the_runtime_imports_only_declared_dependencies():
    assert undeclared(imported_modules(*RUNTIME), declared()) == {}


def test_the_tools_and_tests_import_only_declared_dependencies():
    assert undeclared(imported_modules(*TOOLS), declared("dev")) == {}
