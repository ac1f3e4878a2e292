"""The import structure of ``components/``: no import cycles, and a thin media package.

A cycle makes a module's behaviour depend on which module was imported first (one of them sees
the other half-initialised), and it is how "helpers" quietly start depending on components.
The graph is read from the source with ``ast`` (every import statement, also those inside
functions: an import deferred to dodge a cycle is still a cycle in the design).
"""

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "components"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: Dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
MEDIA_MODULES = sorted(name for name in MODULES if name.startswith("components.media."))


def imported_modules(name: str) -> Set[str]:
    """The modules of ``components`` that module ``name`` imports (``from pkg import mod``
    counts as importing ``pkg.mod`` when that is a module, else as importing ``pkg``)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.add(f"{base}.{alias.name}")
                elif base in MODULES:
                    found.add(base)
    found.discard(name)
    return found


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One cycle of ``graph`` as a path that ends where it starts, [] when there is none."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_the_imports_the_media_package_is_known_to_have() -> None:
    assert "components.media.errors" in imported_modules("components.media.resolve")
    assert "components.media.mime" in imported_modules("components.media.policy")


def test_components_have_no_import_cycle() -> None:
    graph = {name: imported_modules(name) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def registers_a_component(path: Path) -> bool:
    """True when the module defines a class decorated with ``DefaultV1Recipe.register(...)``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(call, ast.Attribute) and call.attr == "register":
                    return True
    return False


def test_components_import_helper_packages_never_other_components() -> None:
    """A module that registers a Rasa component is imported by no other module of
    ``components``: components share code through helper modules and packages (media, audio,
    vision, text, fusion, ...), so one component's internals are never another's API."""
    components = {name for name, path in MODULES.items() if registers_a_component(path)}
    assert "components.attachment_resolver" in components  # the detection works
    offenders = sorted(
        (name, target) for name in MODULES for target in imported_modules(name) if target in components
    )
    assert offenders == []


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_error_catalogue_imports_neither_fetcher_nor_decoders() -> None:
    """``components.media`` is a thin package: the catalogue comes without the http fetcher,
    the resolver or the image and audio decoders behind them."""
    result = run_python(
        "import sys, components.media.errors\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('components', 'PIL', 'soundfile')))))"
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "components.media.errors" in loaded
    heavy = {"components.media.fetch", "components.media.resolve", "components.media.sniff", "PIL", "soundfile"}
    assert loaded & heavy == set()


@pytest.mark.parametrize("module", MEDIA_MODULES)
def test_each_media_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    result = run_python(f"import {module}")
    assert result.returncode == 0, result.stderr
