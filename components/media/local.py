"""Reading media from local paths, only from inside the configured media roots.

A path is refused when it contains ``..``, when it is absolute outside every root, or when its
real path (all symlinks followed) leaves the root: a link inside ``data/media`` pointing to
``/etc/passwd`` is an escape, not a photo. The file opened is the checked real path, with
O_NOFOLLOW on the last component. A link swapped in a parent folder between the check and
the open could still race; media roots should not be writable by untrusted users.
"""

import os
from typing import List, Optional

from components.media import errors
from components.media.policy import MediaPolicy


def _inside(path: str, root: str) -> bool:
    """True when real path ``path`` is ``root`` or below it."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def locate(path: str, policy: MediaPolicy, source: str, kind: Optional[str] = None) -> str:
    """The checked real path of a media file under a media root; raises AttachmentError."""
    if not path or "\x00" in path:
        raise errors.make_error(errors.BAD_REFERENCE, source, kind)
    expanded = path[len("file://") :] if path.startswith("file://") else path
    parts = expanded.replace("\\", "/").split("/")
    if ".." in parts:
        raise errors.make_error(errors.OUTSIDE_MEDIA_ROOT, source, kind)
    roots = policy.root_paths()
    candidates: List[str] = []
    if os.path.isabs(expanded):
        candidates.append(expanded)
    else:
        # As typed from the project folder ("data/media/x.jpg"), then relative to each root ("x.jpg").
        candidates.append(os.path.abspath(expanded))
        candidates.extend(os.path.join(root, expanded) for root in roots)
    escaped = False
    for candidate in candidates:
        if not os.path.lexists(candidate):
            continue
        real = os.path.realpath(candidate)
        if not any(_inside(real, root) for root in roots):
            escaped = True
            continue
        if not os.path.isfile(real):
            raise errors.make_error(errors.NOT_FOUND, source, kind)
        return real
    if escaped or (
        os.path.isabs(expanded)
        and not any(_inside(os.path.abspath(expanded), root) for root in roots)
    ):
        raise errors.make_error(errors.OUTSIDE_MEDIA_ROOT, source, kind)
    raise errors.make_error(errors.NOT_FOUND, source, kind)


def read_local(path: str, policy: MediaPolicy, source: str, kind: Optional[str] = None) -> bytes:
    """Bytes of a media file under a media root, refusing files over the size cap unread."""
    real = locate(path, policy, source, kind)
    limit = policy.max_bytes(kind)
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError as exc:
        raise errors.make_error(errors.NOT_FOUND, source, kind) from exc
    except OSError as exc:  # ELOOP: the last component became a symlink after the check
        raise errors.make_error(errors.OUTSIDE_MEDIA_ROOT, source, kind) from exc
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > limit:
            raise errors.make_error(errors.TOO_LARGE, source, kind, limit=errors.human_size(limit))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise errors.make_error(errors.TOO_LARGE, source, kind, limit=errors.human_size(limit))
    return data
