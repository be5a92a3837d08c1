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

    description: str = Field("", description="What the circuit is and does (free text).")
    citations: list[str] = Field(
        default_factory=list, description="Papers the wiring and parameters come from."
    )
    tags: list[str] = Field(default_factory=list, description="Free-form labels, e.g. `liquid`, `small`.")


class ConnectomeSource(_Strict):
    """Which connectome dataset populations and connections are drawn from."""

    dataset: str = Field(
        "cook2019",
        description="Connectome dataset key: `cook2019`, `varshney2011`, `white1986` or `witvliet2021` "
        "(`wormchip datasets`).",
    )


class Population(_Strict):
    """Neurons sharing a model: from the connectome (`neurons`: names, classes, types), or synthetic:
    `cells` (named, e.g. the class-level cells of the tap-withdrawal model) or `size` (numbered `<name>_k`)."""

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Population name, referenced by connections' `source` and `target`.",
    )
    neurons: NameList | None = Field(
        None,
        description="Connectome neurons: names (`AVAL`), classes (`AVA`) or types (`sensory`, `interneuron`, "
        "`motor`).",
    )
    cells: NameList | None = Field(None, description="Synthetic cells, named (not from the connectome).")
    size: Annotated[int, Field(strict=True, ge=1, le=MAX_POPULATION)] | None = Field(
        None, description="Synthetic cells, numbered `<name>_0` … `<name>_{size-1}`."
    )
    model: str = Field("lif", description="Neuron model from the registry (see Models below).")
    params: dict[str, Quantity] = Field(
        default_factory=dict, description="Model parameters overriding the registry defaults, with units."
    )

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

    pre: str = Field(description="Presynaptic neuron (a member of the connection's `source` populations).")
    post: str = Field(description="Postsynaptic neuron (a member of the connection's `target` populations).")
    weight: FiniteFloat = Field(
        1.0, description="Signed multiplier of `weight_scale`; negative = inhibitory."
    )


class SignOverride(_Strict):
    """Force the sign of chemical connectome edges pre → post (neuron or class names), e.g. from a model paper."""

    pre: NameList = Field(description="Presynaptic neuron names or classes.")
    post: NameList = Field(description="Postsynaptic neuron names or classes.")
    sign: Literal["excitatory", "inhibitory"] = Field(description="The sign every matching edge gets.")
    source: str = Field("", description="Where the sign comes from (free text, e.g. a citation).")


class Connection(_Strict):
    """Synapses between populations: drawn from the connectome, generated randomly, or listed explicitly."""

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Connection name (plastic weights are recorded under it).",
    )
    source: NameList = Field(description="Presynaptic population names.")
    target: NameList = Field(description="Postsynaptic population names.")
    from_connectome: Literal["chemical", "gap"] | None = Field(
        None,
        description="Wire as in the connectome: weight = contact count × `weight_scale` × sign (chemical), "
        "or junction count × `weight_scale` (gap, needs `synapse: gap_junction`).",
    )
    edges: list[Edge] | None = Field(None, description="Explicit synapses.")
    random: RandomWiring | None = Field(None, description="Random synapses.")
    synapse: str = Field("exp_current", description="Synapse model from the registry (see Models below).")
    params: dict[str, Quantity] = Field(
        default_factory=dict, description="Synapse model parameters overriding the registry defaults."
    )
    weight_scale: Quantity = Field(
        "1 nA",
        description="Weight of a unit multiplier: a current for `exp_current`, a conductance for the "
        "conductance synapses (`exp_conductance`, `graded_sigmoid`, `gap_junction`).",
        json_schema_extra={"dimension": "current | conductance"},
    )
    sign_policy: Literal["transmitter", "all_excitatory"] = Field(
        "transmitter",
        description="Signs of connectome chemical edges: by the presynaptic transmitter (ACh +, GABA −, "
        "glutamate by `glutamate`), or all excitatory.",
    )
    # Sign of glutamatergic edges under the transmitter policy (no per-edge receptor table is shipped).
    glutamate: Literal["excitatory", "inhibitory"] = Field(
        "inhibitory", description="Sign of glutamatergic edges under `sign_policy: transmitter`."
    )
    # Per-edge signs that win over the policy (chemical connectome edges only).
    sign_overrides: list[SignOverride] = Field(
        default_factory=list,
        description="Per-edge signs that win over the policy (`from_connectome: chemical` only).",
    )
    plasticity: NameList = Field(
        default_factory=list, description="Names of plasticity instances (top-level `plasticity`) to apply."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Connection:
        given = [k for k in ("from_connectome", "edges", "random") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of from_connectome, edges, random (got {given or 'none'})")
        return self


class RandomWiring(_Strict):
    """Random synapses: each pre→post pair exists with probability p; sign +1 with probability p_excitatory."""

    p: Probability = Field(description="Connection probability of each pre → post pair.")
    p_excitatory: Probability = Field(0.5, description="Probability that a synapse is excitatory (+1).")
    allow_self: Annotated[bool, Field(strict=True)] = Field(False, description="Allow autapses (pre = post).")


class Plasticity(_Strict):
    """A named plasticity rule instance, referenced by connections' `plasticity` lists."""

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Instance name, listed in connections' `plasticity`."
    )
    rule: str = Field(description="Plasticity model from the registry (see Models below).")
    params: dict[str, Quantity] = Field(
        default_factory=dict, description="Rule parameters overriding the registry defaults."
    )
    modulators: NameList = Field(
        default_factory=list,
        description="Neurons whose spikes release the neuromodulator D (`reward_stdp`): names, classes, types.",
    )
    reward: list[RewardPulse] = Field(
        default_factory=list, description="External reward pulses (`reward_stdp`)."
    )


class RewardPulse(_Strict):
    """An external reward delivered at `time` (adds `amount` to the neuromodulator signal D)."""

    time: Quantity = Field(description="When the reward arrives.", json_schema_extra={"dimension": "time"})
    amount: FiniteFloat = Field(1.0, description="Added to the neuromodulator signal D.")


class Stimulus(_Strict):
    """An input. Kinds: step, pulse, touch, tap, poisson, timeseries, gradient (see docs/spec.md)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Stimulus name.")
    kind: Literal["step", "pulse", "touch", "tap", "poisson", "timeseries", "gradient"] = Field(
        description="What kind of input (see Stimulus kinds below)."
    )
    targets: NameList = Field(
        default_factory=list,
        description="Neurons driven: circuit names, or connectome names/classes/types. Default for touch/tap: "
        "the touch cells of `site`; ignored by gradient (uses `gradient.on_cells`/`off_cells`).",
    )
    amplitude: Quantity = Field(
        "0.5 nA",
        description="Injected current (step, pulse, touch, tap); timeseries: multiplies the CSV values.",
        json_schema_extra={"dimension": "current"},
    )
    start: Quantity = Field("0 ms", description="Onset.", json_schema_extra={"dimension": "time"})
    duration: Quantity | None = Field(
        None,
        description="How long it lasts; unset: until the end of the run (touch/tap: 50 ms; pulse: required).",
        json_schema_extra={"dimension": "time"},
    )
    site: Literal["anterior", "posterior", "both"] | None = Field(
        None,
        description="touch/tap: anterior (ALM, AVM), posterior (PLM) or both; unset: anterior for touch, "
        "both for tap.",
    )
    rate: Quantity | None = Field(
        None,
        description="poisson: rate of each input train (required).",
        json_schema_extra={"dimension": "frequency"},
    )
    weight: Quantity | None = Field(
        None,
        description="poisson: weight per input spike; unset: 0.5 nA (exp_current) or 1 nS (exp_conductance).",
        json_schema_extra={"dimension": "current | conductance"},
    )
    synapse: str = Field(
        "exp_current", description="poisson: synapse model of the input, `exp_current` or `exp_conductance`."
    )
    file: str | None = Field(
        None,
        description="timeseries: CSV file (relative to the spec file) with a `time` column in seconds.",
    )
    column: str | None = Field(None, description="timeseries: CSV column of values; unset: the last column.")
    gradient: GradientParams | None = Field(
        None, description="gradient: the chemical gradient; unset: the defaults below."
    )


class GradientParams(_Strict):
    """A worm crawling up a linear chemical gradient with sinusoidal head sweeps (klinotaxis input).

    Concentration C(t) = slope·speed·t + sweep·sin(2π f t); ON cells (e.g. ASEL) get gain·max(dC/dt, 0),
    OFF cells (e.g. ASER) gain·max(−dC/dt, 0) (Suzuki et al. 2008, Nature 454:114).
    """

    slope: FiniteFloat = Field(1.0, description="Gradient steepness, concentration units per mm.")
    speed: FiniteFloat = Field(0.1, description="Crawling speed up the gradient, mm/s.")
    sweep: FiniteFloat = Field(0.05, description="Concentration amplitude of the head sweep.")
    frequency: Quantity = Field(
        "0.5 Hz", description="Head-sweep frequency f.", json_schema_extra={"dimension": "frequency"}
    )
    gain: Quantity = Field(
        "1 nA",
        description="Current per (concentration unit / s) of dC/dt.",
        json_schema_extra={"dimension": "current"},
    )
    on_cells: NameList = Field(
        default_factory=lambda: ["ASEL"], description="Cells driven by rising concentration."
    )
    off_cells: NameList = Field(
        default_factory=lambda: ["ASER"], description="Cells driven by falling concentration."
    )


class Probe(_Strict):
    """Record state variables of some neurons, sampled every `dt`."""

    variables: NameList = Field(
        description="Any of `v`, `tau_eff`, `I_syn`, `g_e`, `g_i`, `I_gap`, `w_adapt` (plastic weights are "
        "recorded automatically).",
    )
    neurons: NameList | Literal["all"] = Field(
        "all", description="Circuit neuron names, or connectome names/classes/types, or `all`."
    )
    dt: Quantity = Field("1 ms", description="Sampling interval.", json_schema_extra={"dimension": "time"})


class Sensor(_Strict):
    """A world observation → input current into neurons, once per control period (closed loop).

    The signal x is `observation − offset`; `on` keeps max(x, 0), `off` keeps max(−x, 0) (ON/OFF rectified
    channels, e.g. ASEL/ASER); then x is clipped to `clip` and each target neuron receives `gain`·x (a
    current, held over the control period).
    """

    observation: StrictStr | Annotated[int, Field(strict=True, ge=0)] = Field(
        description="Observation component: its name in the world (`wormchip worlds`) or its index."
    )
    neurons: NameList = Field(min_length=1, description="Neurons receiving the signal (names or classes).")
    encoding: Literal["current", "on", "off"] = Field(
        "current", description="`current` (signed), `on` / `off` (rectified ON/OFF channels)."
    )
    gain: Quantity = Field(
        "1 nA",
        description="Current per unit of the clipped signal.",
        json_schema_extra={"dimension": "current"},
    )
    offset: FiniteFloat = Field(0.0, description="Subtracted from the observation before rectifying.")
    clip: Annotated[list[FiniteFloat], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [-1.0, 1.0],
        description="[low, high] bounds of the signal after rectifying (they size the chip's bias range).",
    )


class Motor(_Strict):
    """Neuron activity → one action component, once per control period (closed loop).

    `rate`: mean firing rate (Hz) of `neurons` over the last `window`; `difference`: that rate minus the
    rate of `minus`; `voltage`: mean v − E_L (mV) of `neurons` at the end of the period (graded cells).
    The action is `gain`·read-out + `offset`, low-pass filtered with time constant `filter` if set, then
    clipped to the world's action bounds (a Discrete(2) action is 1 when the value is > 0).
    """

    action: StrictStr | Annotated[int, Field(strict=True, ge=0)] = Field(
        description="Action component: its name in the world or its index."
    )
    neurons: NameList = Field(min_length=1, description="Neurons read (names or classes).")
    readout: Literal["rate", "difference", "voltage"] = Field(
        "rate", description="`rate`, `difference` (neurons − minus) or `voltage`."
    )
    minus: NameList = Field(default_factory=list, description="`difference`: the subtracted population.")
    window: Quantity = Field(
        "100 ms",
        description="Sliding window of the rate read-outs (rounded up to whole control periods).",
        json_schema_extra={"dimension": "time"},
    )
    gain: FiniteFloat = Field(0.01, description="Action per Hz (rate, difference) or per mV (voltage).")
    offset: FiniteFloat = Field(0.0, description="Added after the gain.")
    filter: Quantity | None = Field(
        None,
        description="Time constant of a first-order low-pass on the action; unset: none.",
        json_schema_extra={"dimension": "time"},
    )


class WorldBinding(_Strict):
    """How the circuit acts in one world: sensors, motors, control period (`wormchip episode`)."""

    world: StrictStr = Field(
        description="`klinotaxis`, `touch`, `body` or `gym:<id>` (any installed gymnasium environment)."
    )
    params: dict[str, StrictStr | StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)] | bool] = (
        Field(default_factory=dict, description="Parameters of the world (see docs/worlds.md).")
    )
    control_period: Quantity = Field(
        "50 ms",
        description="Simulated neural time per world step (one observation in, one action out).",
        json_schema_extra={"dimension": "time"},
    )
    duration: Quantity = Field(
        "20 s", description="Default episode length in world time.", json_schema_extra={"dimension": "time"}
    )
    sensors: list[Sensor] = Field(default_factory=list, description="Observations → neurons.")
    motors: list[Motor] = Field(min_length=1, description="Neurons → actions (every action component once).")


class FreeParameter(_Strict):
    """A spec value the optimizer may change within [low, high] (`wormchip fit`, `wormchip sweep`).

    `path` names the value as dotted fields, list items by their `name` or `[index]`: e.g.
    `populations.inter.params.I_bias`, `connections.chemical.weight_scale`, `bindings[0].motors[0].gain`,
    `bindings[0].sensors[1].gain`. `connections.<name>.edges.weight` frees every explicit edge's weight (one
    variable per edge). Quantities keep the unit of `low`.
    """

    path: StrictStr = Field(description="Dotted path of the value (list items by name or `[index]`).")
    low: Quantity = Field(description="Lower bound (same dimension as the value).")
    high: Quantity = Field(description="Upper bound.")
    scale: Literal["linear", "log"] = Field(
        "linear", description="Search scale: `log` for gains and conductances spanning decades (bounds > 0)."
    )


class FreeSigns(_Strict):
    """Let the optimizer choose the sign of the chemical connectome edges pre → post of a connection (one
    variable per listed pre/post group), e.g. glutamatergic edges of unknown receptor."""

    connection: StrictStr = Field(description="A `from_connectome: chemical` connection's name.")
    pre: NameList = Field(min_length=1, description="Presynaptic neuron names or classes.")
    post: NameList = Field(min_length=1, description="Postsynaptic neuron names or classes.")


class Objective(_Strict):
    """One term of the fit's score: a world metric over closed-loop episodes, or target firing rates."""

    metric: StrictStr = Field(
        description="A world metric (e.g. `chemotaxis_index`), `return`, `STAT:NAME` (min, max, mean or "
        "final of a recorded state variable, e.g. `max:position`), or `rates` (needs `target`)."
    )
    world: StrictStr | None = Field(None, description="Binding's world; unset: the circuit's first binding.")
    goal: Literal["maximize", "minimize"] = Field("maximize", description="Direction of this term.")
    weight: FiniteFloat = Field(1.0, description="Weight of this term in the score.")
    episodes: Annotated[int, Field(strict=True, ge=1, le=1000)] = Field(
        4, description="Episodes per evaluation (world seeds 0 … episodes − 1)."
    )
    duration: Quantity | None = Field(
        None, description="Episode length; unset: the binding's.", json_schema_extra={"dimension": "time"}
    )
    world_params: dict[
        str, StrictStr | StrictInt | Annotated[StrictFloat, Field(allow_inf_nan=False)] | bool
    ] = Field(
        default_factory=dict, description="World parameters overriding the binding's (e.g. a gradient)."
    )
    target: StrictStr | None = Field(
        None, description="`rates`: CSV file (relative to the spec) with columns `neuron`, `rate_hz`."
    )


class FitSettings(_Strict):
    """What `wormchip fit` may change, what it optimizes and how (CMA-ES on Dask)."""

    parameters: list[FreeParameter] = Field(default_factory=list, description="Free values with bounds.")
    signs: list[FreeSigns] = Field(default_factory=list, description="Free signs of connectome edges.")
    objectives: list[Objective] = Field(min_length=1, description="Terms of the score (weighted sum).")
    on: Literal["brian2", "emulator"] = Field("emulator", description="Backend evaluating candidates.")
    generations: Annotated[int, Field(strict=True, ge=1, le=100000)] = Field(
        20, description="CMA-ES generations."
    )
    popsize: Annotated[int, Field(strict=True, ge=2, le=100000)] | None = Field(
        None, description="Candidates per generation; unset: CMA-ES's default 4 + 3·ln(n)."
    )
    sigma: Annotated[float, Field(strict=True, gt=0, le=1)] = Field(
        0.25, description="Initial step size in the normalized [0, 1] space of every parameter."
    )
    seed: Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)] = Field(1, description="CMA-ES seed.")


class RunSettings(_Strict):
    """Integration step, duration, seed and Brian2 code-generation target."""

    dt: Quantity = Field(
        "0.1 ms",
        description="Integration step; must be ≤ τ/2 of the fastest time constant (warning above τ/10).",
        json_schema_extra={"dimension": "time"},
    )
    duration: Quantity = Field("1 s", description="Simulated time.", json_schema_extra={"dimension": "time"})
    seed: Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)] = Field(
        0, description="Random seed (random wiring, Poisson inputs, structural plasticity)."
    )
    target: Literal["numpy", "cython", "cpp_standalone", "auto"] = Field(
        "auto",
        description="Brian2 code-generation target; `auto`: the one estimated to finish first for this "
        "duration, build included (cython's compile counted only when not cached); the result says which.",
    )


class CircuitSpec(_Strict):
    """A complete circuit: what to simulate, with which models, inputs, probes and run settings."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", description="Circuit name.")
    metadata: Metadata = Field(default_factory=Metadata, description="Description, citations, tags.")
    connectome: ConnectomeSource = Field(
        default_factory=ConnectomeSource, description="The connectome dataset `neurons` are drawn from."
    )
    populations: list[Population] = Field(min_length=1, description="Groups of neurons sharing a model.")
    connections: list[Connection] = Field(default_factory=list, description="Synapses between populations.")
    plasticity: list[Plasticity] = Field(
        default_factory=list, description="Named plasticity rule instances used by connections."
    )
    stimuli: list[Stimulus] = Field(default_factory=list, description="Inputs.")
    probes: list[Probe] = Field(
        default_factory=list, description="Recorded state variables (spikes always are)."
    )
    ablations: NameList = Field(
        default_factory=list,
        description="Neurons removed (names, classes, types or synthetic cells); edges, stimuli and probes "
        "naming them are dropped.",
    )
    run: RunSettings = Field(default_factory=RunSettings, description="Step, duration, seed, Brian2 target.")
    bindings: list[WorldBinding] = Field(
        default_factory=list,
        description="Closed loop: how the circuit senses and acts in each world (`wormchip episode`).",
    )
    fit: FitSettings | None = Field(None, description="Free parameters and objectives for `wormchip fit`.")
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
