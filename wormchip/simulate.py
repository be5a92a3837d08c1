"""The simulate pipeline shared by the CLI and notebooks: spec → IR → Brian2 → Result (+ files)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wormchip.circuits.build import build
from wormchip.circuits.errors import Problem, SpecError
from wormchip.circuits.loader import from_dict, load_spec
from wormchip.circuits.schema import MAX_SEED, CircuitSpec
from wormchip.result import Result
from wormchip.units import UnitError, parse_quantity


@dataclass
class SimulationOutput:
    """A run's result and the files written for it (empty when no output folder was given)."""

    result: Result
    files: dict[str, Path]


def import_nir(path: str | Path) -> tuple[CircuitSpec, list[str]]:
    """The spec of a NIR file (`mappers.nir_import`) and what it leaves open (inputs carry no data)."""
    from wormchip.mappers.nir_import import read_nir, spec_data

    imported = spec_data(read_nir(path), Path(path).stem, str(path))
    return from_dict(imported.data, source=str(path)), imported.notes


def load_circuit(circuit: str | Path) -> CircuitSpec:
    """A spec from a library name, a YAML file or a NIR file (imported)."""
    return import_nir(circuit)[0] if Path(circuit).suffix.lower() == ".nir" else load_spec(circuit)


def prepare(
    circuit: str | Path | CircuitSpec,
    duration: str | None = None,
    dt: str | None = None,
    seed: int | None = None,
) -> tuple[CircuitSpec, Path | None]:
    """Load a spec (library name, YAML/NIR path or object) and apply run-setting overrides (strings with units)."""
    for option, value in (("--duration", duration), ("--dt", dt)):
        if value is not None:  # checked here: an override is not in the file, so it has no file line
            try:
                parse_quantity(value, "time")
            except UnitError as err:
                raise SpecError([Problem([option], str(err), value)]) from None
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        # the same bounds as `run.seed` in a spec file (numpy seeds are unsigned 32-bit)
        raise SpecError(
            [Problem(["--seed"], f"must be a whole number from 0 to {MAX_SEED:,}", seed, "e.g. --seed 1")]
        )
    spec = circuit if isinstance(circuit, CircuitSpec) else load_circuit(circuit)
    spec = spec.model_copy(deep=True)
    if duration is not None:
        spec.run.duration = duration
    if dt is not None:
        spec.run.dt = dt
    if seed is not None:
        spec.run.seed = seed
    base = Path(circuit).parent if isinstance(circuit, str | Path) and Path(circuit).is_file() else None
    return spec, base


def simulate(
    circuit: str | Path | CircuitSpec,
    duration: str | None = None,
    dt: str | None = None,
    seed: int | None = None,
    ablate: list[str] | None = None,
    out: str | Path | None = None,
    target: str | None = None,
    report: Callable[[float], None] | None = None,
) -> SimulationOutput:
    """Run a circuit in Brian2; with `out`, write `result.h5` and `raster.png` there."""
    from wormchip.backends.brian2_backend import run_brian2

    spec, base = prepare(circuit, duration, dt, seed)
    network = build(spec, base_dir=base, ablate=ablate)
    result = run_brian2(network, target=target, report=report)
    files: dict[str, Path] = {}
    if out is not None:
        import matplotlib.pyplot as plt

        from wormchip import plots

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files["result"] = result.save(out / "result.h5")
        fig = plots.raster(result)
        files["raster"] = out / "raster.png"
        fig.savefig(files["raster"], dpi=120)
        plt.close(fig)
    return SimulationOutput(result, files)
