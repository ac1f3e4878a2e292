"""The README's component table and each component's ``get_default_config`` say the same thing.

Every component documents its keys and defaults in one place in code; the README repeats them for
readers. This test is what keeps the two in step: a key added, removed or given a new default in
code without the README (or the other way round) fails here, naming the key.
"""

import importlib
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml

README = Path(__file__).resolve().parents[1] / "README.md"
_ROW = re.compile(r"^\| `(components\.[\w.]+)`[^|]*\|[^|]*\|(?P<config>.*)\|\s*$")
_ITEM = re.compile(r"`([a-z_][a-z0-9_]*): ([^`]*)`")


def _table_rows() -> List[Tuple[str, str]]:
    rows = []
    for line in README.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            rows.append((match.group(1), match.group("config")))
    return rows


def _documented(config_cell: str) -> Dict[str, Any]:
    return {key: yaml.safe_load(value) for key, value in _ITEM.findall(config_cell)}


def _normalise(value: Any) -> Any:
    """Tuples and lists compare alike; YAML reads 5e-5 as a string, so numbers are compared as
    numbers where the code's default is one."""
    if isinstance(value, tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


ROWS = _table_rows()


def test_the_table_lists_every_component_of_the_reference_pipeline() -> None:
    config = yaml.safe_load((README.parent / "config.yml").read_text(encoding="utf-8"))
    ours = {step["name"] for step in config["pipeline"] if step["name"].startswith("components.")}
    assert ours <= {path for path, _ in ROWS}


@pytest.mark.parametrize("path,cell", ROWS, ids=[path.rsplit(".", 1)[-1] for path, _ in ROWS])
def test_readme_row_matches_get_default_config(path: str, cell: str) -> None:
    module_name, class_name = path.rsplit(".", 1)
    component = getattr(importlib.import_module(module_name), class_name)
    defaults = component.get_default_config()
    documented = _documented(cell)
    missing = sorted(set(defaults) - set(documented))
    unknown = sorted(set(documented) - set(defaults))
    assert not missing, f"{class_name}: keys in get_default_config but not in the README: {missing}"
    assert not unknown, f"{class_name}: keys in the README but not in get_default_config: {unknown}"
    for key, default in defaults.items():
        readme_value = documented[key]
        if isinstance(default, float) and isinstance(readme_value, (int, float, str)):
            assert float(readme_value) == pytest.approx(default), f"{class_name}.{key}"
        else:
            assert _normalise(readme_value) == _normalise(default), (
                f"{class_name}.{key}: README says {readme_value!r}, code says {default!r}"
            )
