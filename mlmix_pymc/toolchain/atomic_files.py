"""Files that parallel processes share, written whole or not at all.

The function cache (``function_cache.py``) and the remembered compiler probes
(``compiler_probes.py``) are read by every process, test workers included, while others write.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in its folder and a rename, so that
    parallel processes (test workers) never read a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
        fh.write(data)
    os.replace(fh.name, path)
