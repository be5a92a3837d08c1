"""Build a `CircuitSpec` into the backend-neutral IR (`wormchip.ir.Network`), checking it on the way.

Every problem found (unknown model or parameter, wrong unit, unknown neuron, incompatible synapse, dt too
coarse) is collected and raised together as one `SpecError` naming the field path and value, and, for specs
read from YAML, the file and line. Sizes are checked before anything large is allocated (MAX_* below), so a
malformed spec fails fast instead of exhausting memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from wormchip import ir
from wormchip.circuits.errors import NO_VALUE, Problem, SpecError, closest, line_of
from wormchip.circuits.loader import origin_of
from wormchip.circuits.schema import CircuitSpec, Connection, GradientParams, Stimulus, WorldBinding
from wormchip.models import NEURON_MODELS, PLASTICITY_MODELS, SYNAPSE_MODELS, ModelInfo
from wormchip.units import UnitError, parse_quantity

#: Which quantity a connection's weight_scale is, by synapse model.
WEIGHT_DIMENSION = {
    "exp_current": "current",
    "exp_conductance": "conductance",
    "graded_sigmoid": "conductance",
    "gap_junction": "conductance",
}
#: Mechanosensory neurons per touch site (Chalfie et al. 1985, J. Neurosci. 5:956; Wicks & Rankin 1995).
TOUCH_SITES = {
    "anterior": ["ALM", "AVM"],
    "posterior": ["PLM"],
    "both": ["ALM", "AVM", "PLM"],
}
DT_ERROR_RATIO = 2.0  # dt > τ_min / 2: forward integration is unusable
DT_WARN_RATIO = 10.0  # dt > τ_min / 10: noticeably inaccurate
MAX_NEURONS = 10_000_000  # neurons in one circuit
MAX_SYNAPSES = 10**8  # expected synapses of one connection
MAX_CURRENT_SAMPLES = 5 * 10**7  # time steps × neurons of injected current (400 MB as float64)
MAX_INPUT_SPIKES = 10**8  # expected spikes of one Poisson input
#: Parameter dimensions that cannot be negative; parameters that must be strictly positive.
NON_NEGATIVE = {"time", "capacitance", "conductance", "frequency", "resistance"}
STRICTLY_POSITIVE = {"C_m"}


class _Collector:
    """Gathers problems so a user sees all of them at once; also knows which neurons are ablated."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.ablated: set[str] = set()

    def add(self, path: list, message: str, value: object = NO_VALUE, suggestion: str | None = None) -> None:
        self.problems.append(Problem(path, message, value, suggestion))

    def quantity(self, path: list, value: object, dimension: str) -> float:
        """`value` in SI, or NaN after recording the problem."""
        try:
            return parse_quantity(value, dimension)  # type: ignore[arg-type]
        except UnitError as err:
            self.add(path, str(err), value)
            return float("nan")

    def positive(self, path: list, value: object, dimension: str, strict: bool = True) -> float:
        """A quantity that must be > 0 (or ≥ 0 with strict=False); NaN after recording a problem."""
        number = self.quantity(path, value, dimension)
        if not math.isnan(number) and (number <= 0 if strict else number < 0):
            self.add(path, "must be positive" if strict else "must not be negative", value)
            return float("nan")
        return number


def spec_hash(spec: CircuitSpec) -> str:
    """Stable SHA-256 of the spec's canonical JSON (recorded in every Result)."""
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _model_params(col: _Collector, path: list, model: ModelInfo, given: dict) -> dict[str, float]:
    """Merge given parameters over a model's defaults, in SI, reporting unknown names and bad units."""
    out = {}
    for key in given:
        if key not in model.params:
            hint = closest(key, model.params) or f"valid: {', '.join(model.params) or 'none'}"
            if key.startswith("tau") and "C_m" in model.params and "g_L" in model.params:
                hint = f"the membrane time constant is C_m/g_L: set those ({hint})"
            col.add([*path, key], f"unknown parameter for model {model.name!r}", given[key], hint)
    for key, param in model.params.items():
        value = given.get(key, param.default)
        if key in STRICTLY_POSITIVE or key.startswith("tau"):
            out[key] = col.positive([*path, key], value, param.dimension)
        elif param.dimension in NON_NEGATIVE:
            out[key] = col.positive([*path, key], value, param.dimension, strict=False)
        else:
            out[key] = col.quantity([*path, key], value, param.dimension)
    return out


def _lookup_model(col: _Collector, path: list, name: str, registry: dict[str, ModelInfo], kind: str):
    if name not in registry:
        col.add(
            path, f"unknown {kind} model", name, closest(name, registry) or f"valid: {', '.join(registry)}"
        )
        return None
    return registry[name]


def build(
    spec: CircuitSpec, base_dir: str | Path | None = None, ablate: list[str] | None = None
) -> ir.Network:
    """Turn a validated spec into an IR `Network` (`ablate` adds neurons to remove, as the CLI's --ablate).

    Raises `SpecError` (with file and line numbers for specs loaded from YAML) for every problem found; warns
    when dt is coarse for the fastest time constant.
    """
    try:
        return _build(spec, base_dir, ablate)
    except SpecError as err:
        origin = origin_of(spec)
        if origin is None:
            raise
        for problem in err.problems:
            if problem.line is None and origin.node is not None and problem.path:
                problem.line = line_of(origin.node, problem.path)
        raise SpecError(err.problems, err.source or origin.source) from None


def _build(spec: CircuitSpec, base_dir: str | Path | None, ablate: list[str] | None) -> ir.Network:
    from wormchip import worm_connectome

    col = _Collector()
    total = sum(p.size or 0 for p in spec.populations)
    if total > MAX_NEURONS:
        raise SpecError([Problem(["populations"], f"{total} neurons exceed the limit of {MAX_NEURONS}")])
    base_dir = Path(base_dir) if base_dir else Path.cwd()
    needs_connectome = any(p.neurons for p in spec.populations)
    connectome = None
    if needs_connectome:
        try:
            connectome = worm_connectome.load(spec.connectome.dataset)
        except KeyError as err:
            raise SpecError([Problem(["connectome", "dataset"], str(err), spec.connectome.dataset)]) from None

    # Populations → names.
    ablated = col.ablated  # edges, stimuli and probes naming these neurons are dropped, not errors
    synthetic = {c for p in spec.populations for c in (p.cells or [])}
    synthetic |= {f"{p.name}_{k}" for p in spec.populations for k in range(p.size or 0)}
    requested = [(["ablations", k], item) for k, item in enumerate(spec.ablations)]
    requested += [(["--ablate", k], item) for k, item in enumerate(ablate or [])]  # not in the file: no line
    for path, item in requested:
        if item in synthetic:
            ablated.add(item)
        elif connectome is not None:
            ablated |= set(_resolve(col, connectome, path, [item]))
        else:
            col.add(path, "unknown neuron", item, closest(item, synthetic))
    pop_names: dict[str, list[str]] = {}
    names: list[str] = []
    named: set[str] = set()
    seen: dict[str, str] = {}
    for i, pop in enumerate(spec.populations):
        path = ["populations", i]
        if pop.name in pop_names:
            col.add([*path, "name"], "duplicate population name", pop.name)
        if pop.neurons is not None:
            members = _resolve(col, connectome, [*path, "neurons"], pop.neurons)
        elif pop.cells is not None:
            members = list(dict.fromkeys(pop.cells))
        else:
            members = [f"{pop.name}_{k}" for k in range(pop.size)]
        members = [m for m in members if m not in ablated]
        for m in members:
            if m in seen:
                col.add([*path, "neurons"], f"neuron {m} is already in population {seen[m]!r}", m)
            seen[m] = pop.name
        pop_names[pop.name] = members
        for m in members:
            if seen[m] == pop.name and m not in named:
                named.add(m)
                names.append(m)
    index = {n: i for i, n in enumerate(names)}
    if not names and not col.problems:
        col.add(["populations"], "the circuit has no neurons (all ablated?)")

    # Neuron blocks: one per model, parameters per neuron.
    model_members: dict[str, list[int]] = defaultdict(list)
    model_params: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for i, pop in enumerate(spec.populations):
        model = _lookup_model(col, ["populations", i, "model"], pop.model, NEURON_MODELS, "neuron")
        if model is None:
            continue
        params = _model_params(col, ["populations", i, "params"], model, pop.params)
        for name in pop_names.get(pop.name, []):
            model_members[model.name].append(index[name])
            for key, value in params.items():
                model_params[model.name][key].append(value)
    blocks = tuple(
        ir.NeuronBlock(m, np.array(idx, dtype=np.int64), {k: np.array(v) for k, v in model_params[m].items()})
        for m, idx in model_members.items()
        if idx
    )
    model_of = {names[i]: b.model for b in blocks for i in b.indices}

    rng = np.random.default_rng(spec.run.seed)
    plastic = {p.name: (i, p) for i, p in enumerate(spec.plasticity)}
    projections = tuple(
        proj
        for i, conn in enumerate(spec.connections)
        if (proj := _projection(col, i, conn, pop_names, index, model_of, connectome, plastic, rng))
        is not None
    )
    dt = col.positive(["run", "dt"], spec.run.dt, "time")
    duration = col.positive(["run", "duration"], spec.run.duration, "time")
    if dt > 0 and duration > 0 and duration < dt:
        col.add(["run", "duration"], "duration is shorter than one time step", spec.run.duration)
    current, spike_inputs = None, ()
    if not col.problems:
        current, spike_inputs = _stimuli(col, spec, index, connectome, dt, duration, base_dir, rng)
    probes = tuple(_probe(col, k, p, spec, index, connectome) for k, p in enumerate(spec.probes))
    bindings = tuple(_binding(col, k, b, index, connectome) for k, b in enumerate(spec.bindings))
    if col.problems:
        raise SpecError(col.problems)
    network = ir.Network(
        name=spec.name,
        names=tuple(names),
        blocks=blocks,
        projections=projections,
        current=current,
        spike_inputs=spike_inputs,
        probes=probes,
        dt=dt,
        duration=duration,
        seed=spec.run.seed,
        target=spec.run.target,
        metadata={
            "spec_hash": spec_hash(spec),
            "circuit": spec.name,
            "dataset": spec.connectome.dataset if connectome is not None else None,
            "ablated": sorted(ablated),
        },
        bindings=bindings,
    )
    check_dt(network)
    return network


def _resolve(col: _Collector, connectome, path: list, items: list[str]) -> list[str]:
    """Neuron names, classes or types → neuron names of the connectome (in its canonical order)."""
    if connectome is None:
        col.add(path, "neuron names need a connectome population (synthetic populations use `size`)", items)
        return []
    out: list[str] = []
    for k, item in enumerate(items):
        try:
            found = connectome.resolve([item])
        except KeyError as err:
            message, _, hint = str(err).strip("'\"").partition("; ")
            col.add([*path, k], message.replace(f" {item!r}", ""), item, hint or None)
            continue
        out.extend(n for n in found if n not in out)
    return out


def _members(col, path, groups: list[str], pop_names: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for k, g in enumerate(groups):
        if g not in pop_names:
            col.add(
                [*path, k],
                "unknown population",
                g,
                closest(g, pop_names) or f"populations: {', '.join(pop_names)}",
            )
            continue
        out.extend(pop_names[g])
    return out


def _projection(col, i, conn: Connection, pop_names, index, model_of, connectome, plastic, rng):
    path = ["connections", i]
    synapse = _lookup_model(col, [*path, "synapse"], conn.synapse, SYNAPSE_MODELS, "synapse")
    src = _members(col, [*path, "source"], conn.source, pop_names)
    dst = _members(col, [*path, "target"], conn.target, pop_names)
    if synapse is None:
        return None
    params = _model_params(col, [*path, "params"], synapse, conn.params)
    scale = col.quantity([*path, "weight_scale"], conn.weight_scale, WEIGHT_DIMENSION[synapse.name])
    if conn.sign_overrides and conn.from_connectome != "chemical":
        col.add(
            [*path, "sign_overrides"],
            "sign_overrides apply only to from_connectome: chemical",
            conn.from_connectome or ("edges" if conn.edges is not None else "random"),
            "give explicit edges negative weights instead",
        )
    if conn.from_connectome == "gap" and synapse.name != "gap_junction":
        col.add([*path, "synapse"], "from_connectome: gap needs synapse: gap_junction", synapse.name)
    if conn.from_connectome is not None:
        outside = [
            n for n in dict.fromkeys([*src, *dst]) if connectome is None or n not in connectome.neurons
        ]
        if outside:
            col.add(
                [*path, "from_connectome"],
                "connectome wiring needs connectome populations (`neurons:`), but some members are synthetic",
                outside[:5],
                "use `edges` or `random` for synthetic cells",
            )
    if conn.random is not None:
        if len(src) * len(dst) * conn.random.p > MAX_SYNAPSES:
            col.add(
                [*path, "random"],
                f"{len(src)}×{len(dst)} pairs at p = {conn.random.p:g} is too large "
                f"(limit: {MAX_SYNAPSES:.0e} expected synapses)",
            )
    if synapse.name == "exp_conductance":
        models = {model_of[n] for n in dst if n in model_of}
        bad = sorted(m for m in models if not NEURON_MODELS[m].conductance_based)
        if bad:
            col.add(
                [*path, "synapse"],
                f"exp_conductance needs conductance-based target neurons, but targets use {bad}",
                synapse.name,
                "use model: conductance_lif for the target population, or synapse: exp_current",
            )
    rules = []
    for k, rule_name in enumerate(conn.plasticity):
        if rule_name not in plastic:
            col.add(
                [*path, "plasticity", k],
                "unknown plasticity instance",
                rule_name,
                closest(rule_name, plastic),
            )
            continue
        j, p = plastic[rule_name]
        info = _lookup_model(col, ["plasticity", j, "rule"], p.rule, PLASTICITY_MODELS, "plasticity")
        if info is None:
            continue
        if synapse.name in ("graded_sigmoid", "gap_junction"):
            col.add(
                [*path, "plasticity", k], f"{p.rule} needs a spiking synapse, not {synapse.name}", rule_name
            )
        rule_params = _model_params(col, ["plasticity", j, "params"], info, p.params)
        modulators = (
            _resolve(col, connectome, ["plasticity", j, "modulators"], p.modulators) if p.modulators else []
        )
        rules.append(
            ir.PlasticityRule(
                p.name,
                p.rule,
                rule_params,
                np.array([index[m] for m in modulators if m in index], dtype=np.int64),
                np.array(
                    [
                        col.quantity(["plasticity", j, "reward", r, "time"], x.time, "time")
                        for r, x in enumerate(p.reward)
                    ]
                ),
                np.array([x.amount for x in p.reward]),
            )
        )
    if col.problems:
        return None
    pre, post, weight = _wiring(col, path, conn, src, dst, index, connectome, rng)
    return ir.Projection(conn.name, synapse.name, pre, post, weight * scale, params, tuple(rules))


def bernoulli_indices(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices in [0, n), each present independently with probability `p`, in O(n·p) time and memory.

    The gaps between successive chosen indices are geometric(p), so they are drawn directly instead of n
    uniform numbers (which made a random projection O(pre × post): 10.6 s at 10k neurons, 1e10 pairs at
    100k out of reach). Same distribution as `rng.random(n) < p`, not the same draws.
    """
    if p <= 0.0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(n, dtype=np.int64)
    chunk = int(n * p + 6.0 * np.sqrt(n * p) + 16)  # one draw suffices, except with probability ~1e-9
    parts, last = [], -1
    while last < n:
        positions = last + np.cumsum(rng.geometric(p, chunk))
        parts.append(positions[positions < n])
        last = int(positions[-1])
    return np.concatenate(parts)


def _wiring(col, path, conn: Connection, src, dst, index, connectome, rng):
    """(pre, post, signed weight multiplier) arrays for one connection."""
    src_idx = np.array([index[n] for n in src], dtype=np.int64)
    dst_idx = np.array([index[n] for n in dst], dtype=np.int64)
    if conn.edges is not None:
        pre, post, w = [], [], []
        src_set, dst_set = set(src), set(dst)
        for k, e in enumerate(conn.edges):
            if e.pre in col.ablated or e.post in col.ablated:
                continue
            for end, name, allowed in (("pre", e.pre, src_set), ("post", e.post, dst_set)):
                if name not in allowed:
                    col.add(
                        [*path, "edges", k, end],
                        "neuron is not in this connection's populations",
                        name,
                        closest(name, allowed),
                    )
            if e.pre in src_set and e.post in dst_set:
                pre.append(index[e.pre])
                post.append(index[e.post])
                w.append(e.weight)
        return np.array(pre, dtype=np.int64), np.array(post, dtype=np.int64), np.array(w, dtype=float)
    if conn.random is not None:
        chosen = bernoulli_indices(len(src_idx) * len(dst_idx), conn.random.p, rng)
        pre_k, post_k = np.divmod(chosen, len(dst_idx))
        pre, post = src_idx[pre_k], dst_idx[post_k]
        if not conn.random.allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        sign = np.where(rng.random(len(pre)) < conn.random.p_excitatory, 1.0, -1.0)
        return pre, post, sign
    # From the connectome: contact counts × transmitter sign.
    cpos = {n: k for k, n in enumerate(connectome.neurons)}
    s_c = np.array([cpos[n] for n in src], dtype=np.int64)
    d_c = np.array([cpos[n] for n in dst], dtype=np.int64)
    if conn.from_connectome == "chemical":
        overrides = _sign_overrides(col, path, conn, connectome)
        report = connectome.signs(
            policy=conn.sign_policy, glutamate_default=conn.glutamate, overrides=overrides
        )
        n = len(connectome.neurons)
        signs = sp.csr_matrix((report.signs.astype(float), (report.pre, report.post)), shape=(n, n))
        counts = connectome.chemical.tocsr()[s_c][:, d_c].tocoo()
        sign_values = np.asarray(signs[s_c][:, d_c][counts.row, counts.col]).ravel()
        keep = src_idx[counts.row] != dst_idx[counts.col]
        return (
            src_idx[counts.row][keep],
            dst_idx[counts.col][keep],
            (counts.data * sign_values)[keep].astype(float),
        )
    gap = connectome.gap.tocsr()[s_c][:, d_c].tocoo()
    pairs: dict[tuple[int, int], float] = {}  # each junction once, whichever side lists it
    for a, b, g in zip(src_idx[gap.row], dst_idx[gap.col], gap.data):
        if a != b:
            pairs.setdefault((min(a, b), max(a, b)), float(g))
    keys = sorted(pairs)
    return (
        np.array([a for a, _ in keys], dtype=np.int64),
        np.array([b for _, b in keys], dtype=np.int64),
        np.array([pairs[k] for k in keys], dtype=float),
    )


def _sign_overrides(col, path, conn: Connection, connectome) -> dict[tuple[str, str], int]:
    """`sign_overrides` → {(pre, post): ±1} for the chemical edges they name; an entry matching no edge is a
    problem (most likely a typo or a pair without a synapse)."""
    out: dict[tuple[str, str], int] = {}
    chem = connectome.chemical.tocsr()
    pos = {n: k for k, n in enumerate(connectome.neurons)}
    for k, o in enumerate(conn.sign_overrides):
        at = [*path, "sign_overrides", k]
        pre = _resolve(col, connectome, [*at, "pre"], o.pre)
        post = _resolve(col, connectome, [*at, "post"], o.post)
        pairs = [(a, b) for a in pre for b in post if chem[pos[a], pos[b]]]
        if pre and post and not pairs:
            col.add(at, "no chemical synapse in the connectome from pre to post", f"{o.pre} -> {o.post}")
        out.update(dict.fromkeys(pairs, 1 if o.sign == "excitatory" else -1))
    return out


def _targets(col, path, items, index, connectome) -> np.ndarray:
    """Circuit neuron names (exact), or connectome names/classes/types, → neuron indices in the circuit."""
    found: list[str] = []
    for k, item in enumerate(items):
        if item in index or item in col.ablated:
            found.append(item)
        elif connectome is not None:
            found.extend(_resolve(col, connectome, [*path, k], [item]))
        else:
            col.add([*path, k], "unknown neuron", item, closest(item, index))
    present = [n for n in dict.fromkeys(found) if n in index]
    if found and not present and not set(found) <= col.ablated:
        col.add(path, "none of these neurons is in the circuit (ablated or not in any population)", items)
    return np.array([index[n] for n in present], dtype=np.int64)


def _stimuli(col, spec: CircuitSpec, index, connectome, dt, duration, base_dir, rng):
    """Current waveforms (one column per targeted neuron) and external spike inputs."""
    steps = int(round(duration / dt))
    if spec.stimuli and steps > MAX_CURRENT_SAMPLES:
        col.add(
            ["run", "duration"],
            f"{steps} time steps of stimulus exceed the limit of {MAX_CURRENT_SAMPLES}",
            spec.run.duration,
            "use a shorter duration or a larger dt",
        )
        return None, ()
    t = np.arange(steps) * dt if spec.stimuli else np.zeros(0)
    columns: dict[int, np.ndarray] = {}
    spike_inputs = []

    def add_current(target_idx: np.ndarray, wave: np.ndarray) -> None:
        if (len(columns) + len(target_idx)) * steps > MAX_CURRENT_SAMPLES:
            col.add(
                ["stimuli"],
                f"injected current for {len(columns) + len(target_idx)} neurons × {steps} steps exceeds "
                f"the limit of {MAX_CURRENT_SAMPLES} samples",
                suggestion="use fewer targets, a shorter duration or a larger dt",
            )
            return
        for i in target_idx:
            columns[int(i)] = columns.get(int(i), np.zeros(steps)) + wave

    for k, s in enumerate(spec.stimuli):
        path = ["stimuli", k]
        start = col.positive([*path, "start"], s.start, "time", strict=False)
        length = (
            col.positive([*path, "duration"], s.duration, "time", strict=False)
            if s.duration is not None
            else None
        )
        if s.kind in ("touch", "tap"):
            site = s.site or ("both" if s.kind == "tap" else "anterior")
            items = s.targets or TOUCH_SITES[site]
            length = length if length is not None else 0.05
        else:
            items = s.targets
        if s.kind == "gradient":
            gradient = s.gradient or GradientParams()
            items = [*gradient.on_cells, *gradient.off_cells]
        if not items:
            col.add([*path, "targets"], f"{s.kind} stimulus needs targets")
            continue
        window = (t >= start) & (t < start + length if length is not None else np.ones(steps, bool))
        if s.kind in ("step", "pulse", "touch", "tap"):
            if s.kind == "pulse" and s.duration is None:
                col.add([*path, "duration"], "a pulse needs a duration", suggestion="e.g. duration: '20 ms'")
            amp = col.quantity([*path, "amplitude"], s.amplitude, "current")
            add_current(_targets(col, [*path, "targets"], items, index, connectome), amp * window)
        elif s.kind == "poisson":
            spike_inputs.append(
                _poisson(col, path, s, items, index, connectome, start, length, duration, rng)
            )
        elif s.kind == "timeseries":
            wave = _timeseries(col, path, s, base_dir, t)
            amp = col.quantity([*path, "amplitude"], s.amplitude, "current")
            if wave is not None:
                add_current(_targets(col, [*path, "targets"], items, index, connectome), amp * wave * window)
        elif s.kind == "gradient":
            g = gradient
            freq = col.quantity([*path, "gradient", "frequency"], g.frequency, "frequency")
            gain = col.quantity([*path, "gradient", "gain"], g.gain, "current")
            tt = t - start
            dcdt = g.slope * g.speed + g.sweep * 2 * np.pi * freq * np.cos(2 * np.pi * freq * tt)
            on = _targets(col, [*path, "gradient", "on_cells"], g.on_cells, index, connectome)
            off = _targets(col, [*path, "gradient", "off_cells"], g.off_cells, index, connectome)
            add_current(on, gain * np.maximum(dcdt, 0) * window)
            add_current(off, gain * np.maximum(-dcdt, 0) * window)
    current = None
    if columns:
        target = np.array(sorted(columns), dtype=np.int64)
        current = ir.CurrentInput(dt, target, np.stack([columns[i] for i in target], axis=1))
    return current, tuple(s for s in spike_inputs if s is not None)


def _poisson(col, path, s: Stimulus, items, index, connectome, start, length, duration, rng):
    if s.rate is None:
        col.add([*path, "rate"], "a poisson stimulus needs a rate", suggestion="e.g. rate: '20 Hz'")
        return None
    synapse = SYNAPSE_MODELS.get(s.synapse)
    if synapse is None or s.synapse not in ("exp_current", "exp_conductance"):
        col.add(
            [*path, "synapse"],
            "poisson input needs a spiking synapse",
            s.synapse,
            "use exp_current or exp_conductance",
        )
        return None
    rate = col.positive([*path, "rate"], s.rate, "frequency", strict=False)
    default_weight = "0.5 nA" if s.synapse == "exp_current" else "1 nS"
    weight = col.quantity(
        [*path, "weight"], default_weight if s.weight is None else s.weight, WEIGHT_DIMENSION[s.synapse]
    )
    target = _targets(col, [*path, "targets"], items, index, connectome)
    stop = min(duration, start + length) if length is not None else duration
    if math.isnan(rate) or math.isnan(start) or math.isnan(stop):
        return None
    if rate * max(stop - start, 0) * len(target) > MAX_INPUT_SPIKES:
        col.add([*path, "rate"], f"more than {MAX_INPUT_SPIKES:.0e} input spikes expected", s.rate)
        return None
    trains = []
    for _ in target:
        n = rng.poisson(rate * max(stop - start, 0))
        trains.append(np.sort(rng.uniform(start, stop, n)))
    params = {key: parse_quantity(p.default, p.dimension) for key, p in synapse.params.items()}
    return ir.SpikeInput(s.name, s.synapse, target, np.full(len(target), weight), tuple(trains), params)


def _timeseries(col, path, s: Stimulus, base_dir: Path, t: np.ndarray):
    if not s.file:
        col.add([*path, "file"], "a timeseries stimulus needs a CSV file (columns: time in s, values)")
        return None
    try:
        file = (base_dir / s.file).resolve()
    except (OSError, ValueError, RuntimeError) as err:
        col.add([*path, "file"], f"invalid file name: {err}", s.file)
        return None
    if not file.is_file():
        col.add([*path, "file"], "file not found", str(file))
        return None
    import pandas as pd

    try:
        table = pd.read_csv(file)
    except Exception as err:  # pandas raises many types for bad CSV
        col.add([*path, "file"], f"cannot read CSV: {err}", str(file))
        return None
    column = s.column or (table.columns[-1] if len(table.columns) else "")
    if "time" not in table.columns or column not in table.columns:
        col.add([*path, "column"], f"CSV needs a 'time' column and {column!r}", list(table.columns))
        return None
    try:
        times, values = table["time"].to_numpy(float), table[column].to_numpy(float)
        if not len(times) or not np.all(np.isfinite(times)) or not np.all(np.isfinite(values)):
            raise ValueError("empty, or not all finite numbers")
    except (ValueError, TypeError) as err:
        col.add([*path, "file"], f"CSV columns 'time' and {column!r} must be numbers: {err}", str(file))
        return None
    return np.interp(t, times, values)


def _probe(col, k, p, spec, index, connectome) -> ir.ProbeSpec:
    path = ["probes", k]
    dt = col.positive([*path, "dt"], p.dt, "time")
    if p.neurons == "all":
        idx = np.arange(len(index), dtype=np.int64)
    else:
        idx = _targets(col, [*path, "neurons"], p.neurons, index, connectome)
    known = {"v", "tau_eff", "I_syn", "g_e", "g_i", "I_gap", "w_adapt"}
    for j, var in enumerate(p.variables):
        if var not in known:
            col.add(
                [*path, "variables", j],
                "unknown probe variable",
                var,
                closest(var, known) or f"valid: {known}",
            )
    return ir.ProbeSpec(tuple(p.variables), idx, dt)


def _binding(col, k, b: WorldBinding, index, connectome) -> ir.WorldBinding:
    """A world binding's neuron names → indices and quantities → SI (closed loop)."""
    path = ["bindings", k]
    sensors = []
    for j, sensor in enumerate(b.sensors):
        sp_path = [*path, "sensors", j]
        lo, hi = sensor.clip
        if lo > hi:
            col.add([*sp_path, "clip"], "clip bounds are reversed: give [low, high]", sensor.clip)
        if sensor.encoding in ("on", "off") and hi <= 0:
            col.add([*sp_path, "clip"], f"a {sensor.encoding} signal is ≥ 0, so clip high must be > 0", hi)
        sensors.append(
            ir.SensorBinding(
                observation=sensor.observation,
                targets=_targets(col, [*sp_path, "neurons"], sensor.neurons, index, connectome),
                encoding=sensor.encoding,
                gain=col.quantity([*sp_path, "gain"], sensor.gain, "current"),
                offset=sensor.offset,
                clip=(lo, hi),
            )
        )
    motors = []
    for j, motor in enumerate(b.motors):
        mp = [*path, "motors", j]
        if motor.readout == "difference" and not motor.minus:
            col.add([*mp, "minus"], "a difference read-out needs the `minus` population")
        if motor.readout != "difference" and motor.minus:
            col.add([*mp, "minus"], f"`minus` is only used by readout: difference, not {motor.readout}")
        motors.append(
            ir.MotorBinding(
                action=motor.action,
                readout=motor.readout,
                plus=_targets(col, [*mp, "neurons"], motor.neurons, index, connectome),
                minus=_targets(col, [*mp, "minus"], motor.minus, index, connectome),
                window=col.positive([*mp, "window"], motor.window, "time"),
                gain=motor.gain,
                offset=motor.offset,
                filter=None if motor.filter is None else col.positive([*mp, "filter"], motor.filter, "time"),
            )
        )
    return ir.WorldBinding(
        world=b.world,
        params=dict(b.params),
        control_period=col.positive([*path, "control_period"], b.control_period, "time"),
        duration=col.positive([*path, "duration"], b.duration, "time"),
        sensors=tuple(sensors),
        motors=tuple(motors),
        spec_index=k,
    )


def check_dt(network: ir.Network) -> None:
    """Error if dt > τ_min/2, warn if dt > τ_min/10, τ_min the fastest membrane or synaptic time constant."""
    taus: list[tuple[str, float]] = []
    for b in network.blocks:
        with np.errstate(divide="ignore"):  # g_L = 0: no leak, τ = ∞
            taus.append((f"membrane τ of {b.model}", float(np.min(b.params["C_m"] / b.params["g_L"]))))
    for p in network.projections:
        if "tau" in p.params:
            taus.append((f"synaptic τ of {p.name}", p.params["tau"]))
    if not taus:
        return
    label, tau = min(taus, key=lambda x: x[1])
    if network.dt > tau / DT_ERROR_RATIO:
        raise SpecError(
            [
                Problem(
                    ["run", "dt"],
                    f"dt = {network.dt * 1e3:g} ms is too coarse for the {label} = "
                    f"{tau * 1e3:g} ms (need dt ≤ τ/{DT_ERROR_RATIO:g})",
                    suggestion=f"use dt ≤ {tau / 10 * 1e3:g} ms",
                )
            ]
        )
    if network.dt > tau / DT_WARN_RATIO:
        warnings.warn(
            f"dt = {network.dt * 1e3:g} ms is coarse for the {label} = {tau * 1e3:g} ms "
            f"(τ/dt = {tau / network.dt:.1f} < {DT_WARN_RATIO:g}); results may be inaccurate",
            stacklevel=2,
        )
