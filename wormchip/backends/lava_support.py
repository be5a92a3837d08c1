"""Guard for Lava-only features: lava-nc 0.10 (its last release) imports only on Python 3.10."""

import sys

from wormchip.errors import BackendUnavailable


def require_lava() -> None:
    """Raise a clear `BackendUnavailable` unless lava-nc can be imported here."""
    if sys.version_info[:2] != (3, 10):
        raise BackendUnavailable(
            f"Lava features need Python 3.10 (lava-nc 0.10 supports nothing newer); this is Python "
            f"{sys.version_info.major}.{sys.version_info.minor}. Use `make test`/`make demo`, which build a 3.10 .venv."
        )
    try:
        import lava  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the install
        raise BackendUnavailable(
            f"lava-nc is not installed ({err}); run `pip install lava-nc==0.10.0`."
        ) from err
