"""What produced a run: package versions and the git revision of the source tree."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a run's numbers."""
    import numba
    import numpy as np
    import scipy
    import torch

    from prunelab import __version__

    return {
        "prunelab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    """Commit hash of the prunelab source tree (with ``+dirty`` when modified), or None."""
    src = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
