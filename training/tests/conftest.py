import os
import sys
from pathlib import Path

import pytest

# Tests import the `emotrain` package from training/ without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def missing(reason: str) -> None:
    """A check whose binary or data is absent: skipped with `reason`, or failed under `CI=true`
    (where everything must be there), as the Rust tests do (tests/common/skipped.rs)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: it must be there)")
    pytest.skip(reason)
