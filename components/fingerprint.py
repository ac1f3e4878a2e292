"""Content hashes of model files, for ``fingerprint_addon``: new weights at the same path retrain.

Rasa fingerprints a component by its config and its inputs' data, not by the files a config
path points to. Every component whose config names a model file or folder hashes it here, so one
rule (content, not modification time; folders walked in sorted order) holds for all of them.
"""

import hashlib
import os
from typing import Iterable, Optional

_CHUNK = 1 << 20


def _update_with_file(digest: "hashlib._Hash", path: str) -> None:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)


def hash_paths(paths: Iterable[Optional[str]]) -> Optional[str]:
    """sha256 over the content of every file (folders: every file below, by relative path);
    None when no path is given or none exists (the component reports a missing path itself)."""
    digest = hashlib.sha256()
    found = False
    for path in paths:
        if not path or not os.path.exists(path):
            continue
        found = True
        if os.path.isfile(path):
            digest.update(f"file\0{os.path.basename(path)}\0".encode())
            _update_with_file(digest, path)
            continue
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                if not os.path.isfile(full):
                    continue
                digest.update(f"file\0{os.path.relpath(full, path)}\0".encode())
                _update_with_file(digest, full)
    return digest.hexdigest() if found else None
