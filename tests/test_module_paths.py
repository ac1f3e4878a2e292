"""Every Rasa-facing module path the project documents imports and is what it claims to be.

Rasa finds our components and channels by module path (``components.fusion_classifier.
MultimodalFusionClassifier`` in config.yml, ``components.channels.rest.MediaRestInput`` in
credentials.yml). A moved or renamed module breaks every user's config silently until Rasa
starts; this test reads the paths from the files users copy (config.yml, credentials.yml, the
README, docs/) and checks each one.
"""

import importlib
import re
from pathlib import Path
from typing import Set

import pytest
from rasa.core.channels.channel import InputChannel
from rasa.engine.graph import GraphComponent

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["config.yml", "credentials.yml", "endpoints.yml", "README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")
)]
_PATH = re.compile(r"\bcomponents(?:\.[a-z_][a-z0-9_]*)+\.[A-Z][A-Za-z0-9]+\b")


def _documented_paths() -> Set[str]:
    found: Set[str] = set()
    for name in DOCUMENTS:
        path = ROOT / name
        if path.exists():
            found.update(_PATH.findall(path.read_text(encoding="utf-8")))
    return found


PATHS = sorted(_documented_paths())


def test_the_documents_name_our_components_and_channels() -> None:
    assert "components.attachment_resolver.AttachmentResolver" in PATHS
    assert "components.channels.rest.MediaRestInput" in PATHS


@pytest.mark.parametrize("dotted", PATHS)
def test_documented_module_path_imports_as_a_rasa_component_or_channel(dotted: str) -> None:
    module_name, class_name = dotted.rsplit(".", 1)
    target = getattr(importlib.import_module(module_name), class_name)
    if ".channels." in module_name:
        assert issubclass(target, InputChannel), f"{dotted} is not a Rasa input channel"
    elif isinstance(target, type) and issubclass(target, GraphComponent):
        assert target.get_default_config() is not None
    else:
        assert isinstance(target, type), f"{dotted} names {target!r}, not a class"
