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
