"""The layers: the pure core imports nothing but the standard library, its data and its declared dependencies and
never reads the clock; the wire code loads no Faust; the worker uses no operator tool; the offline path loads no
Kafka client; and only `streams/worker/faust_compat.py` touches Faust's or aiokafka's private names."""

import ast
import sys
from pathlib import Path

import pytest

STREAMS = Path(__file__).parents[2] / "streams"
CORE = ["core"]
FORBIDDEN_MODULES = ("faust", "kafka", "aiokafka", "asyncio", "prometheus_client", "mode", "socket", "time")
FORBIDDEN_CALLS = ("now", "utcnow", "today", "time", "monotonic", "perf_counter")
#: what the core may import beside the standard library: its declared dependencies (pyproject.toml)
CORE_DEPENDENCIES = {"yaml", "holidays"}
#: the project's modules each layer may import (its own, and those below it)
LAYERS = {
    "core": ("streams.core", "streams.errors"),
    "wire": ("streams.core", "streams.wire", "streams.config", "streams.errors"),
    "worker": ("streams.core", "streams.wire", "streams.worker", "streams.config", "streams.errors",
               "streams.__version__"),
    "replay": ("streams.core", "streams.wire", "streams.replay", "streams.config", "streams.errors",
               "streams.__version__", "streams.tools.decide", "streams.tools.terminal"),
    "tools": ("streams.core", "streams.wire", "streams.replay", "streams.tools", "streams.config", "streams.errors",
              "streams.__version__"),
}


def core_files():
    for entry in CORE:
        path = STREAMS / entry
        yield from (sorted(path.rglob("*.py")) if path.is_dir() else [path])


def _imported(tree: ast.AST) -> set[str]:
    """Every module a file imports, `from streams import x` counted as streams.x."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{a.name}" for a in node.names} if node.module == "streams" else {node.module}
    return found


def _layer_files(layer: str):
    return sorted((STREAMS / layer).rglob("*.py"))


@pytest.mark.parametrize("path", _layer_files("core"), ids=lambda p: str(p.relative_to(STREAMS)))
def test_the_core_imports_only_the_standard_library_its_dependencies_and_itself(path):
    for module in _imported(ast.parse(path.read_text())):
        top = module.split(".")[0]
        if top == "streams":
            assert module.startswith(LAYERS["core"]), f"{path.name} imports {module}"
        else:
            assert top in sys.stdlib_module_names or top in CORE_DEPENDENCIES, f"{path.name} imports {module}"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_imports_only_itself_and_the_layers_below(layer):
    wrong = [f"{p.relative_to(STREAMS)} imports {m}" for p in _layer_files(layer)
             for m in _imported(ast.parse(p.read_text()))
             if m.split(".")[0] == "streams" and not m.startswith(LAYERS[layer])]
    assert wrong == []


def test_the_wire_code_loads_no_faust():
    for path in _layer_files("wire"):
        for module in _imported(ast.parse(path.read_text())):
            assert module.split(".")[0] not in ("faust", "mode", "aiokafka"), f"{path.name}: {module}"


def _streams_imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("streams"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("streams")}
    return found


def _module_path(module: str) -> Path:
    parts = module.split(".")[1:]
    candidate = STREAMS.joinpath(*parts)
    return candidate / "__init__.py" if candidate.is_dir() else candidate.with_suffix(".py")


def closure():
    """The core files and every streams module they import, transitively."""
    seen, todo = set(), list(core_files())
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [_module_path(m) for m in _streams_imports(ast.parse(path.read_text()))]
    return sorted(seen)


@pytest.mark.parametrize("path", closure(), ids=lambda p: str(p.relative_to(STREAMS)))
def test_core_module_is_pure(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports from {node.module}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls .{node.func.attr}()"


def test_the_closure_covers_the_core_and_not_the_adapters():
    names = {str(p.relative_to(STREAMS)) for p in closure()}
    assert {"core/cases/__init__.py", "core/law/rulings.py", "core/clets.py", "core/decisions.py"} <= names
    assert not names & {"tools/produce.py", "tools/admin.py", "tools/localbroker.py", "cli.py", "tools/simulate.py"}


def test_the_offline_path_loads_no_kafka_client():
    """`decide`, the codec, JSON lines, the worker's step, replay's analysis and the command line (until a command
    needs Kafka) load no Kafka or Faust code."""
    import subprocess
    import sys

    probe = ("import sys\n"
             "import streams.tools.decide, streams.replay.analysis, streams.wire.codec, streams.wire.jsonlines\n"
             "import streams.worker.step\n"
             "import streams.cli\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'kafka', 'aiokafka', 'faust', 'mode'}))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=STREAMS.parent).stdout.strip()
    assert out == "[]", f"loaded: {out}"


def test_our_murmur2_partitions_keys_as_kafka_does():
    import random

    from kafka.partitioner.default import murmur2 as kafkas

    from streams.wire.topics import murmur2, partition_of

    assert murmur2(b"21") == 3321034988  # Kafka's own test vector: -973932308 as a signed int
    rng = random.Random(7)
    for _ in range(5000):
        key = rng.randbytes(rng.randrange(0, 48))
        assert murmur2(key) == kafkas(key) & 0xFFFFFFFF
        assert partition_of(key, 6) == (kafkas(key) & 0x7FFFFFFF) % 6


#: underscored names the standard library documents as public (os._exit, NamedTuple's methods)
_PUBLIC_UNDERSCORED = {"_exit", "_replace", "_asdict", "_fields", "_make"}


def _private_reaches(tree: ast.AST) -> list[str]:
    """`x._name` where x is not self or cls: a reach into someone else's private names."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and node.attr not in _PUBLIC_UNDERSCORED):
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                continue
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


@pytest.mark.parametrize("path", sorted(p for p in STREAMS.rglob("*.py") if p.name != "faust_compat.py"),
                         ids=lambda p: str(p.relative_to(STREAMS)))
def test_only_faust_compat_touches_private_names(path):
    """Faust's and aiokafka's private names are used in streams/worker/faust_compat.py alone, so that an upgrade has one
    place to check."""
    assert _private_reaches(ast.parse(path.read_text())) == []


def test_the_private_name_check_sees_a_reach():
    assert _private_reaches(ast.parse("consumer._thread._ensure_consumer()")) == ["line 1: ._ensure_consumer",
                                                                                  "line 1: ._thread"]


_OUTSIDE_THE_WORKER = sorted(p for p in STREAMS.rglob("*.py") if "worker" not in p.relative_to(STREAMS).parts)


@pytest.mark.parametrize("path", _OUTSIDE_THE_WORKER, ids=lambda p: str(p.relative_to(STREAMS)))
def test_faust_and_aiokafka_are_used_in_the_worker_alone(path):
    """The command line and the tools start the worker through `worker.app.run`; none of them loads Faust."""
    used = {m.split(".")[0] for m in _imported(ast.parse(path.read_text()))} & {"faust", "mode", "aiokafka"}
    assert used == set(), f"{path.relative_to(STREAMS)} imports {sorted(used)}"
