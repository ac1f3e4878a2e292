"""References typed in the text (rasa shell): recognised, resolved and removed from the text."""

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from components.media.inline import find_inline_references
from components.media.policy import MediaPolicy
from components.media.resolve import resolve_message_media

ROOT = Path(__file__).resolve().parents[1]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def policy(tmp_path, monkeypatch) -> MediaPolicy:
    (tmp_path / "data" / "media").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return MediaPolicy()


def test_markdown_image_is_recognised_and_removed(policy):
    refs, text = find_inline_references(
        "my parcel arrived like this ![photo](data/media/x.jpg) please help", policy
    )
    assert text == "my parcel arrived like this please help"
    assert [(r.form, r.location, r.kind, r.name, r.inline) for r in refs] == [
        ("path", "data/media/x.jpg", "image", "photo", True)
    ]


def test_markdown_image_with_spaces_in_angle_brackets_and_title(policy):
    refs, text = find_inline_references(
        'see ![](<data/media/my box.png> "the box"), thanks', policy
    )
    assert [r.location for r in refs] == ["data/media/my box.png"]
    assert text == "see, thanks"


def test_markdown_link_only_when_it_points_at_media(policy):
    refs, text = find_inline_references(
        "read [our faq](https://shop.example/faq) and hear [my message](data/media/voice.ogg)",
        policy,
    )
    assert [(r.location, r.kind) for r in refs] == [("data/media/voice.ogg", "audio")]
    assert text == "read [our faq](https://shop.example/faq) and hear"


def test_bare_path_under_a_media_root_is_recognised(policy):
    refs, text = find_inline_references("data/media/parcel.jpg", policy)
    assert [r.location for r in refs] == ["data/media/parcel.jpg"] and text == ""
    refs, text = find_inline_references(
        "Here: ./data/media/sub/receipt.PNG. Is it refundable?", policy
    )
    assert [r.location for r in refs] == ["./data/media/sub/receipt.PNG"]
    assert text == "Here:. Is it refundable?"


def test_file_names_in_a_sentence_are_not_references(policy):
    sentence = "I tried to upload photo.jpg but the app said other/folder/a.png is too big"
    refs, text = find_inline_references(sentence, policy)
    assert refs == [] and text == sentence


def test_media_url_and_data_uri_are_recognised(policy):
    uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    message = f"look https://cdn.example.com/img/broken.webp?size=large, and {uri} also https://example.com/page"
    refs, text = find_inline_references(message, policy)
    assert [(r.form, r.kind) for r in refs] == [("url", "image"), ("data", "image")]
    assert refs[0].location == "https://cdn.example.com/img/broken.webp?size=large"
    assert text == "look, and also https://example.com/page"


def test_inline_reference_is_resolved_end_to_end(policy, tmp_path):
    (tmp_path / "data" / "media" / "parcel.png").write_bytes(png_bytes())
    attachments, problems, text = resolve_message_media(
        "it came broken ![box](data/media/parcel.png) and data/media/missing.jpg", {}, policy
    )
    assert text == "it came broken and"
    assert [(a.kind, a.name, a.source) for a in attachments] == [
        ("image", "box", "data/media/parcel.png")
    ]
    assert [(p.code, p.source) for p in problems] == [("not_found", "data/media/missing.jpg")]


def test_same_reference_in_metadata_and_text_is_resolved_once(policy, tmp_path):
    (tmp_path / "data" / "media" / "p.png").write_bytes(png_bytes())
    attachments, problems, text = resolve_message_media(
        "data/media/p.png", {"attachments": [{"type": "image", "path": "data/media/p.png"}]}, policy
    )
    assert len(attachments) == 1 and not problems and text == ""


@pytest.mark.parametrize(
    "hostile",
    [
        "raw " + base64.b64encode(bytes(range(256)) * 1200).decode(),  # 400 kB of base64
        "[" * 100_000,
        "![a](" * 50_000,
        '![a](x.png "' * 30_000,
        "data:image/png;base64," * 20_000,
        # 2 MB holding 170,000 references of three forms (issue 12: 10 MB took 24 s, because
        # every span was inserted into a sorted list)
        "data/media/a.jpg ![a](b) [x](c.png) " * 58_000,
        "word " * 400_000,  # 2 MB of plain words: every one is looked at as a possible path
    ],
    ids=[
        "base64-blob", "brackets", "unclosed-images", "unclosed-titles", "many-data-uris",
        "many-references", "many-words",
    ],
)
def test_hostile_text_is_scanned_in_linear_time(tmp_path, hostile):
    """The linear patterns scan each of these in milliseconds; a backtracking (or quadratic) one
    would take hours. The scan runs in its own interpreter so that the time limit can stop it
    (a regex holds the GIL): the limit is a hang guard, far from any speed target."""
    (tmp_path / "data" / "media").mkdir(parents=True)
    text = tmp_path / "hostile.txt"
    text.write_text(hostile)
    scan = (
        "import sys\n"
        "from components.media.inline import find_inline_references\n"
        "from components.media.policy import MediaPolicy\n"
        "find_inline_references(open(sys.argv[1]).read(), MediaPolicy())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", scan, str(text)], cwd=tmp_path, env=env, check=True, timeout=120)
