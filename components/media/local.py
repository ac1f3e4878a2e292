"""Reading media from local paths, only from inside the configured media roots.

A path is refused when it contains ``..``, when it is absolute outside every root, or when its
real path (all symlinks followed) leaves the root: a link inside ``data/media`` pointing to
``/etc/passwd`` is an escape, not a photo. The file opened is the checked real path, with
O_NOFOLLOW on the last component. A link swapped in a parent folder between the check and
the open could still race; media roots should not be writable by untrusted users.

No probing. The answer depends only on what the customer wrote, never on which files exist
outside the roots: ``outside_media_root`` is for a path that is outside by its spelling (``..``,
an absolute path outside every root), decided before the file system is asked; a path that only
turns out to lead outside (a link out of a root, a relative path that exists in the working
folder) gets the very answer a missing file gets, ``not_found``, and the real reason goes to the
log. Otherwise "not in a folder I may read" versus "couldn't find" would tell a client which
files exist on the server.
"""

import logging
import os
from typing import List, Optional

from components.media import errors
from components.media.policy import MediaPolicy

logger = logging.getLogger(__name__)


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
    for candidate in candidates:
        if not os.path.lexists(candidate):
            continue
        real = os.path.realpath(candidate)
        if not any(_inside(real, root) for root in roots):
            logger.warning(
                "Local media reference '%s' leads outside the media roots (%s): answered as "
                "not found.", source, real
            )
            continue
        if not os.path.isfile(real):
            raise errors.make_error(errors.NOT_FOUND, source, kind)
        return real
    if os.path.isabs(expanded) and not any(
        _inside(os.path.abspath(expanded), root) for root in roots
    ):  # outside by its spelling, whether or not such a file exists
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
        logger.warning("Local media reference '%s' could not be opened safely: %s", source, exc)
        raise errors.make_error(errors.NOT_FOUND, source, kind) from exc
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > limit:
            raise errors.make_error(errors.TOO_LARGE, source, kind, limit=errors.human_size(limit))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise errors.make_error(errors.TOO_LARGE, source, kind, limit=errors.human_size(limit))
    return data
