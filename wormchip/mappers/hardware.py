"""Hardware profiles: per-core limits, mesh layout and energy figures of a neuromorphic target, with sources.

The partition, place and report passes read every hardware number from a `HardwareProfile`, so a new chip
(or a what-if variant) is a YAML file, not a code change. Every number carries a source string; where no
public figure exists (most of Loihi 2's), the string says so and names the stand-in used.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from wormchip.errors import ProfileError

DAVIES_2018 = (
    "Davies et al. 2018, IEEE Micro 38(1), 'Loihi: a neuromorphic manycore processor with on-chip learning'"
)
DAVIES_2021 = "Davies et al. 2021, Proc. IEEE 109(5), 'Advancing neuromorphic computing with Loihi'"
NENGO_LOIHI = "nengo-loihi 1.1 source (nengo_loihi/block.py: MAX_* limits, SynapseConfig.bits_per_axon)"
LOIHI2_BRIEF = "Intel, 'Taking Neuromorphic Computing to the Next Level with Loihi 2' technology brief (2021)"


MAX_WEIGHT_BITS = 8  # nengo-loihi WEIGHT_BITS_MAP and lava-nc Dense num_weight_bits: at most 8
MAX_DELAY_BITS = 6  # Loihi synaptic delays: 6 bits, ≤ 63 steps (lava-nc DelayDense)


class HardwareProfile(BaseModel):
    """Per-core limits, chip/system mesh and per-event energies of a neuromorphic target (immutable).

    Geometry: a chip is a `chip_mesh` = (x, y) grid of tiles with `cores_per_tile` cores each (Loihi: 8 × 4 tiles
    of 4 cores); it holds `cores_per_chip` usable cores. A system is a `system_mesh` grid of chips. Synaptic
    memory follows nengo-loihi's estimate (see `wormchip.mappers.partition.synapse_memory_bits`).
    `sources[field]` gives the origin of every number.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    # per-core limits
    neurons_per_core: int
    synaptic_memory_bits_per_core: int
    input_axons_per_core: int
    output_axons_per_core: int
    # layout
    cores_per_tile: int
    chip_mesh: tuple[int, int]
    cores_per_chip: int
    system_mesh: tuple[int, int]
    chips_per_system: int
    # synaptic memory estimate (nengo-loihi SynapseConfig.bits_per_axon)
    weight_bits: int
    delay_bits: int
    tag_bits: int
    index_bits: int
    axon_header_bits: int
    synapses_per_group: int
    memory_word_bits: int
    # energy per event, picojoules
    energy_synaptic_op_pj: float
    energy_neuron_active_pj: float
    energy_neuron_inactive_pj: float
    energy_spike_in_tile_pj: float
    energy_hop_ew_pj: float
    energy_hop_ns_pj: float
    energy_stdp_update_pj: float
    sources: dict[str, str]

    @field_validator(
        "neurons_per_core",
        "synaptic_memory_bits_per_core",
        "input_axons_per_core",
        "output_axons_per_core",
        "cores_per_tile",
        "cores_per_chip",
        "chips_per_system",
        "synapses_per_group",
        "memory_word_bits",
    )
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be ≥ 1")
        return v

    @field_validator("weight_bits", "delay_bits", "tag_bits", "index_bits", "axon_header_bits")
    @classmethod
    def _non_negative_int(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be ≥ 0")
        return v

    @field_validator(
        "energy_synaptic_op_pj",
        "energy_neuron_active_pj",
        "energy_neuron_inactive_pj",
        "energy_spike_in_tile_pj",
        "energy_hop_ew_pj",
        "energy_hop_ns_pj",
        "energy_stdp_update_pj",
    )
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if not (math.isfinite(v) and v >= 0):
            raise ValueError("must be a finite number ≥ 0")
        return v

    @field_validator("weight_bits")
    @classmethod
    def _weight_bits(cls, v: int) -> int:
        if not 1 <= v <= MAX_WEIGHT_BITS:
            raise ValueError(
                f"must be from 1 to {MAX_WEIGHT_BITS} (Loihi's synaptic weight formats; Lava Dense takes ≤ 8 bits)"
            )
        return v

    @field_validator("delay_bits")
    @classmethod
    def _delay_bits(cls, v: int) -> int:
        if v > MAX_DELAY_BITS:
            raise ValueError(f"must be from 0 to {MAX_DELAY_BITS} (Loihi's synaptic delays are ≤ 63 steps)")
        return v

    @field_validator("index_bits")
    @classmethod
    def _index_bits(cls, v: int, info: ValidationInfo) -> int:
        per_core = info.data.get("neurons_per_core")
        if per_core is None:  # neurons_per_core itself was invalid and is reported
            return v
        needed = max(1, math.ceil(math.log2(per_core)))
        if v < needed:
            raise ValueError(
                f"addresses {2**v:,} neurons, but neurons_per_core = {per_core:,} needs index_bits ≥ {needed}"
            )
        return v

    @field_validator("chip_mesh", "system_mesh")
    @classmethod
    def _mesh(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 1:
            raise ValueError("both mesh dimensions must be ≥ 1")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> HardwareProfile:
        tiles = self.chip_mesh[0] * self.chip_mesh[1]
        if self.cores_per_chip > tiles * self.cores_per_tile:
            raise ValueError(
                f"cores_per_chip = {self.cores_per_chip} exceeds chip_mesh {self.chip_mesh} × "
                f"cores_per_tile {self.cores_per_tile} = {tiles * self.cores_per_tile} core slots"
            )
        if self.chips_per_system > self.system_mesh[0] * self.system_mesh[1]:
            raise ValueError(
                f"chips_per_system = {self.chips_per_system} exceeds system_mesh {self.system_mesh} slots"
            )
        missing = [f for f in NUMERIC_FIELDS if f not in self.sources]
        if missing:
            raise ValueError(f"sources lacks an entry for {', '.join(missing)}")
        return self

    @property
    def bits_per_synapse(self) -> int:
        """Bits of one sparse synapse entry: weight + delay + tag + index (nengo-loihi, compression 0)."""
        return self.weight_bits + self.delay_bits + self.tag_bits + self.index_bits

    def with_delays(self, max_delay: int) -> HardwareProfile:
        """This profile for a network whose longest synaptic delay is `max_delay` steps: each synapse entry
        then needs ceil(log2(max_delay + 1)) delay bits (nengo-loihi's dlyBits), if the profile has fewer."""
        bits = math.ceil(math.log2(max_delay + 1)) if max_delay > 0 else 0
        if bits <= self.delay_bits:
            return self
        return self.model_copy(update={"delay_bits": bits})

    def source(self, field: str) -> str:
        """Where the figure in `field` comes from."""
        return self.sources[field]


NUMERIC_FIELDS: tuple[str, ...] = tuple(
    f for f in HardwareProfile.model_fields if f not in ("name", "description", "sources")
)

_LOIHI1_ENERGY = f"{DAVIES_2018}, Table 1 (pre-silicon simulation at 0.75 V)"
_LOIHI1: dict[str, Any] = dict(
    name="loihi1",
    description="Intel Loihi (first generation), Davies et al. 2018",
    neurons_per_core=1024,
    synaptic_memory_bits_per_core=16384 * 64,
    input_axons_per_core=4096,
    output_axons_per_core=4096,
    cores_per_tile=4,
    chip_mesh=(8, 4),
    cores_per_chip=128,
    system_mesh=(32, 24),
    chips_per_system=768,
    weight_bits=8,
    delay_bits=0,
    tag_bits=0,
    index_bits=10,
    axon_header_bits=10,
    synapses_per_group=64,
    memory_word_bits=64,
    energy_synaptic_op_pj=23.6,
    energy_neuron_active_pj=81.0,
    energy_neuron_inactive_pj=52.0,
    energy_spike_in_tile_pj=1.7,
    energy_hop_ew_pj=3.0,
    energy_hop_ns_pj=4.0,
    energy_stdp_update_pj=120.0,
    sources=dict(
        neurons_per_core=f"{DAVIES_2018}: 1,024 compartments per core; {NENGO_LOIHI}: MAX_COMPARTMENTS",
        synaptic_memory_bits_per_core=f"{DAVIES_2018}: 128 KB synaptic memory per core; {NENGO_LOIHI}: "
        "MAX_SYNAPSE_BITS = 1,048,576",
        input_axons_per_core=f"{NENGO_LOIHI}: MAX_IN_AXONS = 4,096",
        output_axons_per_core=f"{NENGO_LOIHI}: MAX_OUT_AXONS = 4,096",
        cores_per_tile=f"{DAVIES_2018}: cores grouped 4 per tile (mesh router)",
        chip_mesh=f"{DAVIES_2018}: 32 tiles; the 8 × 4 arrangement is our model (also SANA-FE's Loihi file)",
        cores_per_chip=f"{DAVIES_2018}: 128 neuromorphic cores per chip",
        system_mesh="our model: 32 × 24 chip grid holding Pohoiki Springs' 768 chips (board topology not modelled)",
        chips_per_system=f"{DAVIES_2021}: Pohoiki Springs, 768 chips / 100 M neurons",
        weight_bits=f"{NENGO_LOIHI}: largest weight format, 8 bit (WEIGHT_BITS_MAP)",
        delay_bits="0 without synaptic delays (nengo-loihi: dlyBits = 0); a network with delays gets "
        "ceil(log2(max delay + 1)) bits (`with_delays`, applied by `map_to_cores`)",
        tag_bits="no learning tags without plasticity, so 0 (nengo-loihi: tagBits = 0)",
        index_bits=f"{NENGO_LOIHI}: sparse index 6–12 bit (INDEX_BITS_MAP); 10 bit addresses 1,024 compartments",
        axon_header_bits=f"{NENGO_LOIHI}: SYNAPSE_FMT_IDX_BITS 4 + N_SYNAPSES_BITS 6 per synapse group",
        synapses_per_group=f"{NENGO_LOIHI}: at most numSynapses + 1 = 64 synapses per group",
        memory_word_bits=f"{NENGO_LOIHI}: each group rounded up to 64-bit words",
        energy_synaptic_op_pj=_LOIHI1_ENERGY,
        energy_neuron_active_pj=_LOIHI1_ENERGY,
        energy_neuron_inactive_pj=_LOIHI1_ENERGY,
        energy_spike_in_tile_pj=_LOIHI1_ENERGY,
        energy_hop_ew_pj=_LOIHI1_ENERGY,
        energy_hop_ns_pj=_LOIHI1_ENERGY,
        energy_stdp_update_pj=_LOIHI1_ENERGY,
    ),
)

_NO_FIG = "no public Loihi 2 figure; stand-in: the Loihi 1 value"
_LOIHI2: dict[str, Any] = dict(
    _LOIHI1,
    name="loihi2",
    description="Intel Loihi 2; most per-core figures are unpublished and use Loihi 1 stand-ins (see sources)",
    neurons_per_core=8192,
    cores_per_chip=120,
    system_mesh=(48, 24),
    chips_per_system=1152,
    index_bits=13,
    sources=dict(
        _LOIHI1["sources"],
        neurons_per_core=f"{LOIHI2_BRIEF}: up to 8,192 neurons per core (fewer for complex neuron models)",
        synaptic_memory_bits_per_core=f"memory is allocated flexibly on Loihi 2 and {_NO_FIG} (128 KB)",
        input_axons_per_core=f"{_NO_FIG} (4,096)",
        output_axons_per_core=f"{_NO_FIG} (4,096)",
        cores_per_tile=f"{_NO_FIG} (4 per tile)",
        chip_mesh=f"{_NO_FIG} (8 × 4 tiles, 128 core slots)",
        cores_per_chip=f"{LOIHI2_BRIEF}: 128 cores; lava-nc 0.10's mapper assumes 120 usable",
        system_mesh="our model: 48 × 24 chip grid holding Hala Point's 1,152 chips (topology not modelled)",
        chips_per_system="Intel Hala Point (2024): 1,152 Loihi 2 chips, 1.15 B neurons",
        weight_bits="lava-nc 0.10 Dense: 8-bit weights + weight_exp",
        index_bits="13 bit addresses 8,192 neurons; Loihi 2 index format is not public (stand-in)",
        energy_synaptic_op_pj=f"{_NO_FIG} (23.6 pJ, {_LOIHI1_ENERGY})",
        energy_neuron_active_pj=f"{_NO_FIG} (81 pJ)",
        energy_neuron_inactive_pj=f"{_NO_FIG} (52 pJ)",
        energy_spike_in_tile_pj=f"{_NO_FIG} (1.7 pJ)",
        energy_hop_ew_pj=f"{_NO_FIG} (3.0 pJ)",
        energy_hop_ns_pj=f"{_NO_FIG} (4.0 pJ)",
        energy_stdp_update_pj=f"{_NO_FIG} (120 pJ)",
    ),
)

BUILTIN_PROFILES: dict[str, HardwareProfile] = {
    "loihi1": HardwareProfile(**_LOIHI1),
    "loihi2": HardwareProfile(**_LOIHI2),
}
loihi1 = BUILTIN_PROFILES["loihi1"]
loihi2 = BUILTIN_PROFILES["loihi2"]

_YAML_KEYS = (*HardwareProfile.model_fields, "base")


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, _YAML_KEYS, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def load_profile(name_or_path: str | Path | HardwareProfile) -> HardwareProfile:
    """A built-in profile by name (`loihi1`, `loihi2`) or one read from a YAML file.

    The YAML holds profile fields at top level; `base: loihi1` copies a built-in first, so a what-if variant
    only lists what differs. A numeric field given without `sources[field]` gets the source "user profile
    <path>". Errors raise `ProfileError` naming the file, field and value, with the closest valid field for
    a misspelt key.
    """
    if isinstance(name_or_path, HardwareProfile):
        return name_or_path
    key = str(name_or_path)
    if key in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[key]
    path = Path(key)
    if path.suffix.lower() not in (".yaml", ".yml") and not path.exists():
        close = difflib.get_close_matches(key, BUILTIN_PROFILES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ProfileError(
            f"unknown hardware profile {key!r}: not a built-in ({', '.join(BUILTIN_PROFILES)}) "
            f"nor a YAML file{hint}"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read hardware profile ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ProfileError(
            f"{path}: a hardware profile must be a mapping of fields, got {type(raw).__name__}"
        )
    for k in raw:
        if k not in _YAML_KEYS:
            raise ProfileError(f"{path}: unknown field {k!r} (value {raw[k]!r}){_suggest(str(k))}")
    data: dict[str, Any] = {}
    base = raw.get("base")
    if base is not None:
        if base not in BUILTIN_PROFILES:
            raise ProfileError(f"{path}: field 'base' = {base!r} is not one of {', '.join(BUILTIN_PROFILES)}")
        data = BUILTIN_PROFILES[base].model_dump()
    user_sources = raw.get("sources") or {}
    if not isinstance(user_sources, dict):
        raise ProfileError(f"{path}: field 'sources' must be a mapping of field → source string")
    sources = dict(data.get("sources", {}))
    for k in raw:
        if k in NUMERIC_FIELDS:
            sources[k] = str(user_sources.get(k, f"user profile {path}"))
    sources.update({str(k): str(v) for k, v in user_sources.items()})
    data.update({k: v for k, v in raw.items() if k not in ("base", "sources")})
    data["sources"] = sources
    data.setdefault("name", path.stem)
    try:
        return HardwareProfile(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(profile)"
        field = str(err["loc"][0]) if err["loc"] else ""
        value = raw.get(field, err.get("input")) if field else None
        shown = f" = {value!r}" if field and not isinstance(value, dict) else ""
        message = err["msg"].removeprefix("Value error, ")
        raise ProfileError(f"{path}: field {loc!r}{shown}: {message}") from None


def profile_table_markdown() -> str:
    """The built-in profiles side by side with each figure's source (the README's table is this text)."""
    one, two = BUILTIN_PROFILES["loihi1"], BUILTIN_PROFILES["loihi2"]

    def fmt(value: Any) -> str:
        if isinstance(value, tuple):
            return " × ".join(str(v) for v in value)
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"

    rows = ["| figure | loihi1 | loihi2 | source |", "|---|---|---|---|"]
    for name in NUMERIC_FIELDS:
        s1, s2 = one.source(name), two.source(name)
        source = s1 if s1 == s2 else f"Loihi 1: {s1}. Loihi 2: {s2}"
        rows.append(f"| `{name}` | {fmt(getattr(one, name))} | {fmt(getattr(two, name))} | {source} |")
    return "\n".join(rows)
