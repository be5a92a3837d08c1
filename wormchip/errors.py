"""Exceptions a user is meant to see: each carries one clear line (the CLI prints it without a traceback)."""


class WormchipError(Exception):
    """Base class for errors caused by user input or environment, reported as one line by the CLI."""


class DatasetError(WormchipError, KeyError):
    """Unknown dataset name."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class NeuronNameError(WormchipError, KeyError):
    """Unknown neuron, class or type name; the message lists the closest valid names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BackendUnavailable(WormchipError, RuntimeError):
    """A backend's library is missing or unsupported on this Python (e.g. Lava needs Python 3.10)."""


class UnsupportedOnBackend(WormchipError, ValueError):
    """A network uses elements a backend or exporter cannot express; `elements` lists every one of them."""

    def __init__(self, backend: str, elements: list[str]) -> None:
        self.backend = backend
        self.elements = list(elements)
        super().__init__(
            f"{backend} cannot express {len(self.elements)} element(s): " + "; ".join(self.elements)
        )


class UnsupportedFeature(WormchipError, ValueError):
    """The network uses features the Loihi compiler cannot lower; `offenders` lists every one found.

    Each offender is `(feature, element)`: the feature-table key and the projection/neuron/input name.
    """

    def __init__(self, message: str, offenders: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.offenders = list(offenders or [])


class QuantizationError(WormchipError, ValueError):
    """A lowered value cannot be represented in Loihi's fixed-point registers at any usable scale."""


class ResourceError(WormchipError, ValueError):
    """A network cannot fit the target's cores: `limit` names the resource, `value` the need, `neurons` who.

    Raised by the partition pass when one neuron alone exceeds a per-core limit (e.g. its fan-in needs more
    input axons than a core has), so no partition can exist.
    """

    def __init__(
        self, message: str, limit: str = "", value: int | float = 0, neurons: list[int] | None = None
    ):
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.neurons = list(neurons or [])


class ProfileError(WormchipError, ValueError):
    """A hardware profile (built-in name or user YAML) is unknown or invalid; the message names file and field."""
