"""Writing an output file so that a failure never costs the file that was there before.

``report --out`` used to write in place: on a full disk it truncated the previous report and left
a partial one, and a symlink at the destination had its target overwritten. Here the payload goes
to a temporary file in the same folder, is flushed to disk, and is renamed over the destination
(``os.replace``, atomic on POSIX), so readers see the old file or the new one, never half of one;
a symlink at the destination is itself replaced. Destinations that are streams rather than files
(``/dev/stdout``, a named pipe, ``/dev/full``) are written directly, as a shell redirect would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

from glassbox.errors import GlassboxError

log = logging.getLogger(__name__)


def write_file(target: Path, payload: str | bytes) -> None:
    """Write ``payload`` (text as UTF-8) to ``target`` atomically; one-line :class:`GlassboxError` on failure."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    try:
        if _is_stream(target):
            with open(target, "wb") as stream:
                stream.write(data)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, data)
    except OSError as exc:
        raise GlassboxError(f"{target}: cannot write ({exc.strerror or exc}) — free some space, fix the folder's"
                            " permissions or choose another path; any previous file there is unchanged") from None


def _is_stream(target: Path) -> bool:
    """A character device, pipe or socket, also behind a symlink (``/dev/stdout`` is one)."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _replace(target: Path, data: bytes) -> None:
    mode = _mode_for(target)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())  # on disk before the rename, so a crash cannot leave an empty file
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    log.debug("wrote %d bytes to %s", len(data), target)


def _mode_for(target: Path) -> int:
    """The mode a plain ``open(target, "w")`` would give: the existing file's, else 0666 less the umask."""
    try:
        existing = os.lstat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and stat.S_ISREG(existing.st_mode):
        return stat.S_IMODE(existing.st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
