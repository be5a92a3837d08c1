"""The circuit spec schema (pydantic): one model behind both front ends, YAML files and the Python API.

Quantities stay strings exactly as written ("20 ms"), so YAML ↔ Python round-trips are exact; they are parsed
to SI floats (with dimension checks) when the spec is built into the IR. Field-level checks that need no
connectome live here; checks against the connectome and the model registry run in `build.py`. Numbers must
be finite and types are strict (no bool → number, no number → string), so a spec means what it says.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

#: A finite float (YAML `.inf`/`.nan` are errors: they cannot be simulated nor round-tripped through JSON).
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Probability = Annotated[float, Field(strict=True, ge=0, le=1)]
#: A quantity as written: a string with a unit ("20 ms"), or a plain number for dimensionless parameters.
Quantity = StrictStr | StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)]
NameList = list[StrictStr]
MAX_SEED = 2**32 - 1
MAX_POPULATION = 10_000_000


class _Strict(BaseModel):
    """Base: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class Metadata(_Strict):
    """Free-text description and citations of a circuit."""

    description: str = ""
    citations: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class ConnectomeSource(_Strict):
    """Which connectome dataset populations and connections are drawn from."""

    dataset: str = "cook2019"


class Population(_Strict):
    """Neurons sharing a model: from the connectome (`neurons`: names, classes, types), or synthetic:
    `cells` (named, e.g. the class-level cells of the tap-withdrawal model) or `size` (numbered `<name>_k`)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    neurons: NameList | None = None
    cells: NameList | None = None
    size: Annotated[int, Field(strict=True, ge=1, le=MAX_POPULATION)] | None = None
    model: str = "lif"
    params: dict[str, Quantity] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> Population:
        given = [k for k in ("neurons", "cells", "size") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `neurons` (connectome names/classes/types), `cells` (synthetic, named) "
                f"or `size` (synthetic, numbered); got {given or 'none'}"
            )
        if given[0] != "size" and not getattr(self, given[0]):
            raise ValueError(f"`{given[0]}` is empty")
        return self


class Edge(_Strict):
    """One explicit synapse: pre → post with a signed weight multiplier (× the connection's weight_scale)."""

    pre: str
    post: str
    weight: FiniteFloat = 1.0


class SignOverride(_Strict):
    """Force the sign of chemical connectome edges pre → post (neuron or class names), e.g. from a model paper."""

    pre: NameList
    post: NameList
    sign: Literal["excitatory", "inhibitory"]
    source: str = ""


class Connection(_Strict):
    """Synapses between populations: drawn from the connectome, generated randomly, or listed explicitly."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    source: NameList
    target: NameList
    from_connectome: Literal["chemical", "gap"] | None = None
    edges: list[Edge] | None = None
    random: RandomWiring | None = None
    synapse: str = "exp_current"
    params: dict[str, Quantity] = Field(default_factory=dict)
    weight_scale: Quantity = "1 nA"
    sign_policy: Literal["transmitter", "all_excitatory"] = "transmitter"
    # Sign of glutamatergic edges under the transmitter policy (no per-edge receptor table is shipped).
    glutamate: Literal["excitatory", "inhibitory"] = "inhibitory"
    # Per-edge signs that win over the policy (chemical connectome edges only).
    sign_overrides: list[SignOverride] = Field(default_factory=list)
    plasticity: NameList = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> Connection:
        given = [k for k in ("from_connectome", "edges", "random") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of from_connectome, edges, random (got {given or 'none'})")
        return self


class RandomWiring(_Strict):
    """Random synapses: each pre→post pair exists with probability p; sign +1 with probability p_excitatory."""

    p: Probability
    p_excitatory: Probability = 0.5
    allow_self: Annotated[bool, Field(strict=True)] = False


class Plasticity(_Strict):
    """A named plasticity rule instance, referenced by connections' `plasticity` lists."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    rule: str
    params: dict[str, Quantity] = Field(default_factory=dict)
    modulators: NameList = Field(default_factory=list)
    reward: list[RewardPulse] = Field(default_factory=list)


class RewardPulse(_Strict):
    """An external reward delivered at `time` (adds `amount` to the neuromodulator signal D)."""

    time: Quantity
    amount: FiniteFloat = 1.0


class Stimulus(_Strict):
    """An input. Kinds: step, pulse, touch, tap, poisson, timeseries, gradient (see docs/spec.md)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: Literal["step", "pulse", "touch", "tap", "poisson", "timeseries", "gradient"]
    targets: NameList = Field(default_factory=list)
    amplitude: Quantity = "0.5 nA"
    start: Quantity = "0 ms"
    duration: Quantity | None = None
    site: Literal["anterior", "posterior", "both"] | None = None
    rate: Quantity | None = None
    weight: Quantity | None = None
    synapse: str = "exp_current"
    file: str | None = None
    column: str | None = None
    gradient: GradientParams | None = None


class GradientParams(_Strict):
    """A worm crawling up a linear chemical gradient with sinusoidal head sweeps (klinotaxis input).

    Concentration C(t) = slope·speed·t + sweep·sin(2π f t); ON cells (e.g. ASEL) get gain·max(dC/dt, 0),
    OFF cells (e.g. ASER) gain·max(−dC/dt, 0) (Suzuki et al. 2008, Nature 454:114).
    """

    slope: FiniteFloat = 1.0  # concentration units per mm
    speed: FiniteFloat = 0.1  # mm/s up the gradient
    sweep: FiniteFloat = 0.05  # concentration amplitude of the head sweep
    frequency: Quantity = "0.5 Hz"
    gain: Quantity = "1 nA"  # current per (concentration unit / s)
    on_cells: NameList = Field(default_factory=lambda: ["ASEL"])
    off_cells: NameList = Field(default_factory=lambda: ["ASER"])


class Probe(_Strict):
    """Record state variables (v, tau_eff, I_syn, g_e, g_i, w) of some neurons, sampled every `dt`."""

    variables: NameList
    neurons: NameList | Literal["all"] = "all"
    dt: Quantity = "1 ms"


class RunSettings(_Strict):
    """Integration step, duration, seed and Brian2 code-generation target."""

    dt: Quantity = "0.1 ms"
    duration: Quantity = "1 s"
    seed: Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)] = 0
    target: Literal["numpy", "cython", "cpp_standalone", "auto"] = "auto"


class CircuitSpec(_Strict):
    """A complete circuit: what to simulate, with which models, inputs, probes and run settings."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")
    metadata: Metadata = Field(default_factory=Metadata)
    connectome: ConnectomeSource = Field(default_factory=ConnectomeSource)
    populations: list[Population] = Field(min_length=1)
    connections: list[Connection] = Field(default_factory=list)
    plasticity: list[Plasticity] = Field(default_factory=list)
    stimuli: list[Stimulus] = Field(default_factory=list)
    probes: list[Probe] = Field(default_factory=list)
    ablations: NameList = Field(default_factory=list)
    run: RunSettings = Field(default_factory=RunSettings)
    #: Where the spec was read from (set by the loader; used for file and line numbers in build errors).
    _origin: object = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        """Specs are equal when their fields are; where they were read from does not matter."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, like every non-frozen pydantic model

    def to_dict(self) -> dict:
        """Plain data, omitting defaults, as written to YAML."""
        return self.model_dump(mode="json", exclude_defaults=True)


Connection.model_rebuild()
Plasticity.model_rebuild()
Stimulus.model_rebuild()
