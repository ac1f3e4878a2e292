"""A client cannot learn which files exist on the server from the resolver's answers (issue 12):
for every way of pointing outside the media roots, an existing target and a missing one get the
same code and the same customer message."""

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from components.media.attachment import MediaReference
from components.media.errors import AttachmentError
from components.media.policy import MediaPolicy
from components.media.resolve import resolve_reference


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """data/media as the root, a secret next to it in the working folder and one outside it."""
    (tmp_path / "data" / "media").mkdir(parents=True)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "id_card.png").write_bytes(png_bytes())
    (tmp_path / "config.png").write_bytes(png_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def answer(location: str) -> tuple:
    with pytest.raises(AttachmentError) as caught:
        resolve_reference(MediaReference(form="path", location=location, kind="image"), MediaPolicy())
    return caught.value.code, caught.value.message


@pytest.mark.parametrize(
    "existing, missing",
    [
        ("config.png", "nothing.png"),  # relative to the working folder
        ("secrets/id_card.png", "secrets/passport.png"),
        ("data/media/link/id_card.png", "data/media/link/passport.png"),  # through a link out
        ("data/media/card.png", "data/media/gone.png"),  # a link to a secret vs a missing file
        ("{root}/secrets/id_card.png", "{root}/secrets/passport.png"),  # absolute, outside
        ("{root}/data/media/card.png", "{root}/data/media/gone.png"),  # absolute, link out
        ("data/media/../../secrets/id_card.png", "data/media/../../secrets/passport.png"),
    ],
)
def test_existing_and_missing_files_outside_the_roots_get_the_same_answer(project, existing, missing):
    os.symlink(project / "secrets", project / "data" / "media" / "link")
    os.symlink(project / "secrets" / "id_card.png", project / "data" / "media" / "card.png")
    existing, missing = existing.format(root=project), missing.format(root=project)
    assert os.path.exists(existing) and not os.path.exists(missing)
    assert answer(existing) == answer(missing)
    # the answer never names the path or why
    code, message = answer(existing)
    assert code in ("not_found", "outside_media_root") and "secrets" not in message


def test_the_real_reason_goes_to_the_log(project, caplog):
    os.symlink(project / "secrets" / "id_card.png", project / "data" / "media" / "card.png")
    with caplog.at_level("WARNING", logger="components.media.local"):
        assert answer("data/media/card.png")[0] == "not_found"
    assert "leads outside the media roots" in caplog.text
