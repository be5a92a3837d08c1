"""Run an IR `Network` in Brian2 and return the shared `Result`.

One NeuronGroup per neuron block (model), one Synapses object per (projection, pre group, post group).
Code-generation target: "numpy" (no compile), "cython" (compiled once, then cached in
~/.cython/brian_extensions) or "cpp_standalone" (one compiled program, fastest per step; structural
plasticity needs the runtime targets, since it edits synapses between run chunks). "auto" picks the one
estimated to finish first, build included (`pick_target`), and the result's metadata says which and why.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wormchip import ir
from wormchip.backends.brian2_equations import (
    CONDUCTANCE,
    CURRENT,
    GAP,
    GRADED,
    Channel,
    NeuronEquations,
    synapse_equations,
)
from wormchip.models import NEURON_MODELS
from wormchip.result import Result, Trace

log = logging.getLogger(__name__)

SYNAPSE_KIND = {
    "exp_current": CURRENT,
    "exp_conductance": CONDUCTANCE,
    "graded_sigmoid": GRADED,
    "gap_junction": GAP,
}
WEIGHT_RECORD_LIMIT = 20_000  # plastic synapses recorded individually up to this many
#: Neuron integration: exponential Euler is exact for the linear membrane, adaptation and trace equations
#: with inputs held over a step (forward Euler's τ error would be dt/2τ). The groups use the same scheme with
#: per-neuron constant decays computed once (`brian2_integration.ConstantDecayEuler`).
NEURON_METHOD = "exponential_euler"
PROBE_UNITS = {"v": "V", "tau_eff": "s", "I_syn": "A", "g_e": "S", "g_i": "S", "I_gap": "A", "w_adapt": "A"}
TARGETS = ("numpy", "cython", "cpp_standalone")
RUNTIME_TARGETS = ("numpy", "cython")  # Python between steps: progress reports, structural edits, sessions
CYTHON_MARKER = "wormchip_compiled_networks.txt"  # in Brian2's Cython cache: code keys already compiled


@dataclass(frozen=True)
class TargetCost:
    """`run.target: auto`'s cost model of one target, in seconds (the 2-core development VM at load 4–7;
    how the figures were measured: docs/performance.md). Finish time ≈ fixed + build + steps × per-step
    cost."""

    fixed: float  # code generation and set-up
    build_fixed: float  # compiling (cython: only code not in Brian2's cache yet)
    build_per_object: float
    step_per_object: float  # dispatch of one code object in one step
    step_per_neuron: float  # one neuron in one neuron code object (state update, threshold, reset, monitor)
    step_per_summed: float  # one gap/graded synapse's summed variable per step


TARGET_COSTS = {
    "numpy": TargetCost(0.3, 0.0, 0.0, 1e-5, 5e-9, 1e-8),
    "cython": TargetCost(0.5, 0.0, 3.0, 1.5e-6, 2.5e-9, 4e-9),
    "cpp_standalone": TargetCost(1.0, 8.0, 1.5, 1e-7, 1.2e-9, 1.5e-9),
}
#: How much of a network's code Brian2's Cython cache holds: all of it, all but the state updaters (they
#: read the stimulus table, whose length, i.e. the run's duration, is written into their code), or none.
CACHE_ALL, CACHE_STRUCTURE, CACHE_NONE = "cached", "cached but the stimulus readers", "not compiled yet"


@dataclass(frozen=True)
class TargetChoice:
    """The target a run uses; for "auto" also every candidate's estimated finish time (s) and the reason."""

    target: str
    requested: str
    estimates: dict[str, float]
    cython_cache: str  # CACHE_ALL, CACHE_STRUCTURE or CACHE_NONE

    def describe(self) -> str:
        """One line, e.g. 'auto chose cython: est. 2.1 s (cpp_standalone 21 s, numpy 9.3 s; cython cached)'."""
        if self.requested != "auto":
            return f"target {self.target} (requested)"
        others = ", ".join(f"{t} {v:.2g} s" for t, v in self.estimates.items() if t != self.target)
        est = self.estimates[self.target]
        return f"auto chose {self.target}: est. {est:.2g} s with build ({others}; cython {self.cython_cache})"


def choose_target(
    network: ir.Network, requested: str | None = None, allowed: tuple[str, ...] = TARGETS
) -> str:
    """The target name `pick_target` resolves to."""
    return pick_target(network, requested, allowed).target


def pick_target(
    network: ir.Network, requested: str | None = None, allowed: tuple[str, ...] = TARGETS
) -> TargetChoice:
    """Resolve "auto" to the allowed target estimated to finish first for the network's duration, build
    included (cython's compile counts only when the network's code is not in Brian2's cache yet); structural
    plasticity rules out cpp_standalone."""
    target = requested or network.target
    if target != "auto":
        return TargetChoice(target, target, {}, CACHE_NONE)
    if any(r.rule == "structural" for p in network.projections for r in p.plasticity):
        allowed = tuple(t for t in allowed if t in RUNTIME_TARGETS)
    cached = cython_cache(network)
    estimates = {t: estimate_seconds(network, t, cached) for t in allowed}
    return TargetChoice(min(estimates, key=estimates.__getitem__), "auto", estimates, cached)


def estimate_seconds(network: ir.Network, target: str, cython_cache: str = CACHE_NONE) -> float:
    """Estimated wall time of `run_brian2(network, target)` with build, from `TARGET_COSTS` and the
    network's code objects, neurons and per-step (summed) synapses."""
    cost = TARGET_COSTS[target]
    objects, neuron_steps, summed = _step_work(network)
    steps = round(network.duration / network.dt)
    if target == "numpy" or (target == "cython" and cython_cache == CACHE_ALL):
        build = 0.0
    elif target == "cython" and cython_cache == CACHE_STRUCTURE:
        build = cost.build_per_object * len(network.blocks)  # one state updater per group
    else:
        build = cost.build_fixed + cost.build_per_object * objects
    per_step = (
        cost.step_per_object * objects + cost.step_per_neuron * neuron_steps + cost.step_per_summed * summed
    )
    return cost.fixed + build + steps * per_step


def _plans(network: ir.Network) -> tuple[list[NeuronEquations], list[tuple]]:
    eqs = [NeuronEquations(b.model, NEURON_MODELS[b.model].conductance_based) for b in network.blocks]
    for e in eqs:
        e.has_current_input = network.current is not None
    return eqs, _Builder(network, None)._plan_synapses(eqs)


def _step_work(network: ir.Network) -> tuple[int, int, int]:
    """(code objects run every step, neuron × neuron-object count, summed-variable synapses) per step."""
    eqs, plans = _plans(network)
    objects = 4 * len(network.blocks)  # state update, threshold, reset, spike monitor
    neuron_steps = 4 * network.size
    summed = 0
    for source, _, a, _, pre, _, _, rules in plans:
        kind = SYNAPSE_KIND[source.synapse]
        if kind in (GAP, GRADED):
            n_summed = 1 if kind == GAP else 2
            objects += n_summed
            summed += n_summed * len(pre)
        else:
            objects += 2 + (a is None) + 2 * any(r in rules for r in ("stdp", "reward_stdp"))
        objects += 2 * bool(rules)  # clock-driven weights or clipping, weight monitor
    objects += len(network.probes) * len(network.blocks)  # state monitors (at most)
    return objects, neuron_steps, summed


def _code_keys(network: ir.Network) -> tuple[str, str]:
    """What Brian2's generated code depends on, hashed: (everything, everything but the stimulus table's
    length). Equations, synapse models, the inputs' shape and probes; equal keys compile to the same Cython
    modules."""
    import brian2

    eqs, plans = _plans(network)
    parts = [brian2.__version__, NEURON_METHOD, "constant-decay"]
    parts += [f"{e.equations()}|{e.reset()}" for e in eqs]
    for source, key, a, b, *_, rules in plans:
        kind = SYNAPSE_KIND[source.synapse]
        text = synapse_equations(kind, key, rules, "amp" if kind == CURRENT else "siemens")
        parts.append(f"{key}|{a}|{b}|{text}|{source.params.get('delay', 0.0) > 0}")
    if network.current is not None:
        parts.append(f"stim{network.current.values.shape[1]}|{network.current.dt!r}")
    parts += [f"{sorted(p.variables)}" for p in network.probes]
    rows = "none" if network.current is None else str(len(network.current.values))
    return tuple(hashlib.sha1("\n".join(parts + extra).encode()).hexdigest() for extra in ([rows], []))


def _marker_path():
    from pathlib import Path

    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir

    cache = get_cython_cache_dir()
    return None if cache is None else Path(cache) / CYTHON_MARKER


def cython_cache(network: ir.Network) -> str:
    """How much of the network's code a finished cython run left in Brian2's cache (CACHE_*; the marker
    lives in Brian2's Cython cache folder, so clearing the cache clears it too)."""
    path = _marker_path()
    seen = set(path.read_text().split()) if path is not None and path.is_file() else set()
    full, structure = _code_keys(network)
    return CACHE_ALL if full in seen else CACHE_STRUCTURE if structure in seen else CACHE_NONE


def remember_cython(network: ir.Network) -> None:
    """Record that the network's code is in Brian2's Cython cache (after a successful cython run)."""
    path = _marker_path()
    if path is None or not path.parent.is_dir():
        return
    seen = set(path.read_text().split()) if path.is_file() else set()
    new = [key for key in _code_keys(network) if key not in seen]
    if new:
        with open(path, "a") as f:
            f.write("".join(key + "\n" for key in new))


@dataclass
class _SynapseObject:
    projection: ir.Projection | None
    obj: object


def run_brian2(
    network: ir.Network,
    target: str | None = None,
    report: Callable[[float], None] | None = None,
    standalone_dir: str | None = None,
) -> Result:
    """Simulate `network`; `report(fraction_done)` is called during the run (for progress bars).

    `standalone_dir` (cpp_standalone): build the program there and keep it (benchmarks rerun it); by default
    a temporary folder, removed after the run."""
    import brian2 as b2

    choice = pick_target(network, target)
    target = choice.target
    if choice.requested == "auto":
        log.info("%s", choice.describe())
    structural = any(r.rule == "structural" for p in network.projections for r in p.plasticity)
    if target == "cpp_standalone" and structural:
        raise ValueError("structural plasticity edits synapses during the run; use target numpy or cython")
    t0 = time.perf_counter()
    keep = standalone_dir is not None
    if target == "cpp_standalone":
        standalone_dir = standalone_dir or tempfile.mkdtemp(prefix="wormchip_cpp_")
        b2.set_device("cpp_standalone", directory=standalone_dir, build_on_run=False)
    else:
        b2.set_device("runtime")
        b2.prefs.codegen.target = target
    try:
        b2.start_scope()
        b2.defaultclock.dt = network.dt * b2.second
        b2.seed(network.seed)
        builder = _Builder(network, b2)
        net = builder.build()
        build_s = time.perf_counter() - t0
        t_run, cpu_run = time.perf_counter(), time.process_time()
        if structural:
            builder.run_with_structural(net, report)
        elif report is not None and target != "cpp_standalone":
            net.run(
                network.duration * b2.second,
                report=lambda elapsed, complete, *_: report(complete),
                report_period=0.5 * b2.second,
            )
        else:
            net.run(network.duration * b2.second)
        # Runtime targets: the run loop with its code preparation (wall and this process's CPU time).
        run_s, run_cpu_s = time.perf_counter() - t_run, time.process_time() - cpu_run
        if target == "cpp_standalone":
            b2.device.build(directory=standalone_dir, compile=True, run=True)
            # The binary times its run loop with std::clock, i.e. CPU time (robust to a loaded machine).
            run_s = run_cpu_s = float(b2.device._last_run_time)
        result = builder.collect()
    finally:
        if target == "cpp_standalone":
            b2.device.reinit()
            b2.device.activate()
            b2.set_device("runtime")
            if not keep:
                shutil.rmtree(standalone_dir, ignore_errors=True)  # the build folder (MBs) is not reused
    wall = time.perf_counter() - t0
    result.metadata.update(
        {
            **network.metadata,
            "backend": "brian2",
            "target": target,
            "seed": network.seed,
            "wall_s": wall,
            "build_s": build_s,
            "run_s": run_s,
            "run_cpu_s": run_cpu_s,
            "target_choice": choice.describe(),
            "versions": _versions(),
        }
    )
    if choice.estimates:
        result.metadata["target_estimates_s"] = choice.estimates
    if target == "cython":
        remember_cython(network)
    return result


def _versions() -> dict[str, str]:
    import brian2

    import wormchip

    return {"wormchip": wormchip.__version__, "brian2": brian2.__version__, "numpy": np.__version__}


class _Builder:
    """Builds Brian2 objects from the IR and reads them back into a Result."""

    def __init__(self, network: ir.Network, b2) -> None:
        self.net_ir = network
        self.b2 = b2
        self.block_of = np.empty(network.size, dtype=np.int64)  # neuron → block index
        self.local = np.empty(network.size, dtype=np.int64)  # neuron → index inside its block's group
        for k, block in enumerate(network.blocks):
            self.block_of[block.indices] = k
            self.local[block.indices] = np.arange(len(block.indices))
        self.groups: list = []
        self.spike_monitors: list = []
        self.state_monitors: list[tuple[object, ir.ProbeSpec, np.ndarray]] = []
        self.weight_monitors: list[tuple[_SynapseObject, object]] = []
        self.structural: list[tuple[_SynapseObject, dict[str, float], np.random.Generator]] = []
        self.synapse_counts: list[tuple[float, int]] = []
        self.modulated: set[tuple[str, int]] = set()

    # --- construction -------------------------------------------------------------------------------------------
    def build(self):
        from wormchip.backends.brian2_integration import constant_decay_euler, set_constant_decay

        b2 = self.b2
        eqs = [NeuronEquations(b.model, NEURON_MODELS[b.model].conductance_based) for b in self.net_ir.blocks]
        plans = self._plan_synapses(eqs)
        current = self.net_ir.current
        namespace = {}
        if current is not None:
            values = np.concatenate([current.values, np.zeros((len(current.values), 1))], axis=1)
            namespace["stimulus"] = b2.TimedArray(values * b2.amp, dt=current.dt * b2.second)
            for e in eqs:
                e.has_current_input = True
        for k, (block, e) in enumerate(zip(self.net_ir.blocks, eqs)):
            group = b2.NeuronGroup(
                len(block.indices),
                e.equations(),
                threshold="v > v_th",
                reset=e.reset(),
                refractory="t_ref",
                method=constant_decay_euler,
                namespace=namespace,
                name=f"block{k}_{block.model}",
            )
            params = dict(block.params)
            params.setdefault("E_e", np.zeros(len(block.indices)))
            params.setdefault("E_i", np.full(len(block.indices), -0.09))
            for key, values in params.items():
                setattr(group, key, values * _unit_of(b2, key))
            group.v = params["E_L"] * b2.volt
            if current is not None:
                col = np.full(len(block.indices), len(current.target))
                where = {int(n): c for c, n in enumerate(current.target)}
                for j, n in enumerate(block.indices):
                    col[j] = where.get(int(n), len(current.target))
                group.stim_col = col
            self.groups.append(group)
            self.spike_monitors.append(b2.SpikeMonitor(group))
        objects = [*self.groups, *self.spike_monitors]
        for plan in plans:
            objects += self._make_synapses(*plan)
        for group in self.groups:  # after the gap totals, which the membrane decay includes
            set_constant_decay(group)
        objects += self._make_probes()
        return b2.Network(*objects)

    def _plan_synapses(self, eqs: list[NeuronEquations]) -> list[tuple]:
        """Split projections and spike inputs by (pre group, post group); register channels in the targets."""
        plans = []
        for p_idx, proj in enumerate(self.net_ir.projections):
            pre, post, weight = proj.pre, proj.post, proj.weight
            if proj.synapse == "gap_junction":  # both directions
                pre, post, weight = (
                    np.r_[proj.pre, proj.post],
                    np.r_[proj.post, proj.pre],
                    np.r_[weight, weight],
                )
            structural = any(r.rule == "structural" for r in proj.plasticity)
            for a in range(len(self.net_ir.blocks)):
                for b in range(len(self.net_ir.blocks)):
                    sel = (self.block_of[pre] == a) & (self.block_of[post] == b)
                    # Structural plasticity may grow synapses between any of the projection's pre and post
                    # neurons, so a block pair with candidates but no initial synapse still gets an object.
                    grow = structural and (self.block_of[pre] == a).any() and (self.block_of[post] == b).any()
                    if not sel.any() and not grow:
                        continue
                    key = f"p{p_idx}_{a}"
                    eqs[b].channels.append(Channel(key, SYNAPSE_KIND[proj.synapse], proj.params.get("tau")))
                    rules = self._rule_params(proj, eqs[b], key)
                    plans.append((proj, key, a, b, pre[sel], post[sel], weight[sel], rules))
        for s_idx, inp in enumerate(self.net_ir.spike_inputs):
            for b in np.unique(self.block_of[inp.target]):
                key = f"in{s_idx}_{b}"
                eqs[b].channels.append(Channel(key, SYNAPSE_KIND[inp.synapse], inp.params.get("tau")))
                sel = self.block_of[inp.target] == b
                plans.append(
                    (inp, key, None, int(b), np.flatnonzero(sel), inp.target[sel], inp.weight[sel], {})
                )
        return plans

    def _rule_params(self, proj: ir.Projection, eq: NeuronEquations, key: str) -> dict[str, dict]:
        rules: dict[str, dict] = {}
        for rule in proj.plasticity:
            params = dict(rule.params)
            if rule.rule == "homeostatic_scaling":
                params["rate_var"] = f"rate_{rule.name}"
                eq.rate_traces[params["rate_var"]] = params["tau_r"]
            if rule.rule == "reward_stdp":
                params["modulator_var"] = f"D_{rule.name}"
                eq.modulators[params["modulator_var"]] = params["tau_D"]
            rules[rule.rule] = params
        return rules

    def _make_synapses(self, source, key, a, b, pre, post, weight, rules) -> list:
        b2 = self.b2
        kind = SYNAPSE_KIND[source.synapse]
        unit_name = "amp" if kind == CURRENT else "siemens"
        unit = getattr(b2, unit_name)
        text = synapse_equations(kind, key, rules, unit_name)
        target = self.groups[b]
        if a is None:  # external spike input: generator channels per target neuron
            idx, tt, n_layers = _generator_spikes([source.spike_times[i] for i in pre], self.net_ir.dt)
            pre_group = b2.SpikeGeneratorGroup(len(pre) * n_layers, idx, tt * b2.second, name=f"input_{key}")
            pre_local = np.arange(len(pre) * n_layers)
            post = np.tile(post, n_layers)
            weight = np.tile(weight, n_layers)
            extra = [pre_group]
        else:
            pre_group = self.groups[a]
            pre_local = self.local[pre]
            extra = []
        syn = b2.Synapses(
            pre_group,
            target,
            model=text.model,
            on_pre=text.on_pre or None,
            on_post=text.on_post,
            method="euler",
            name=f"syn_{key}_to{b}",
        )
        post_local = self.local[post]
        structural = rules.get("structural")
        candidates = np.zeros(0, dtype=np.int64)
        if structural is not None:
            pre_local, post_local, weight, candidates = self._with_candidates(
                source, a, b, pre_local, post_local, weight
            )
        if len(pre_local):
            syn.connect(i=np.asarray(pre_local, int), j=np.asarray(post_local, int))
        if len(pre_local):
            if not rules:  # static: signed w for currents, no alive/w_max (see static_synapse_equations)
                syn.w = (weight if kind == CURRENT else np.abs(weight)) * unit
                if kind == CONDUCTANCE:
                    syn.sgn = np.where(weight < 0, -1.0, 1.0)
            else:
                active = np.ones(len(pre_local))
                active[len(pre_local) - len(candidates) :] = 0 if len(candidates) else 1
                syn.w = np.abs(weight) * unit
                syn.sgn = np.where(weight < 0, -1.0, 1.0)
                syn.alive = active
                scale = max(rules.get(r, {}).get("w_max_scale", 0.0) for r in rules)
                syn.w_max = np.abs(weight) * max(scale, 1.0) * unit
            if "stp" in rules:
                syn.u_stp = rules["stp"]["U"]
                syn.x_stp = 1.0
            if kind == GRADED:
                post_params = self.net_ir.blocks[b].params
                e_e = post_params.get("E_e", np.zeros(len(self.net_ir.blocks[b].indices)))
                e_i = post_params.get("E_i", np.full(len(self.net_ir.blocks[b].indices), -0.09))
                syn.E_syn = np.where(weight >= 0, e_e[post_local], e_i[post_local]) * b2.volt
                syn.mu = source.params["mu"] * b2.volt
                syn.steep = source.params["sigma"]
            if kind == GAP:  # static total gap conductance per cell: one summed variable per step, not two
                total = np.bincount(post_local, weights=np.abs(weight), minlength=len(target))
                setattr(target, f"gj_{key}", total * b2.siemens)
            if "delay" in source.params and kind in (CURRENT, CONDUCTANCE):
                syn.delay = source.params["delay"] * b2.second
        objs = [*extra, syn]
        sobj = _SynapseObject(source if a is not None else None, syn)
        if any(r in rules for r in ("stdp", "reward_stdp", "homeostatic_scaling", "structural")):
            objs.append(syn.run_regularly("w = clip(w, 0*w_max, w_max)", dt=self.net_ir.dt * 10 * b2.second))
        if rules and a is not None:
            record = np.arange(min(len(pre_local), WEIGHT_RECORD_LIMIT))
            monitor = b2.StateMonitor(syn, "w_signed", record=record, dt=self._weight_dt() * b2.second)
            self.weight_monitors.append((sobj, monitor))
            objs.append(monitor)
        if "reward_stdp" in rules:
            objs += self._modulator_inputs(source, rules["reward_stdp"], b)
        if structural is not None:
            n_initial = len(pre_local) - len(candidates)
            limit = int(structural["max_synapses"]) or n_initial
            w_mean = float(np.mean(np.abs(source.weight))) if len(source.weight) else 0.0
            w_ref = np.abs(weight)  # candidates carry the mean initial magnitude
            rng = np.random.default_rng(self.net_ir.seed + len(self.structural))
            self.structural.append(
                (sobj, {**structural, "limit": limit, "w_ref": w_ref, "w_mean": w_mean}, rng)
            )
        return objs

    def _with_candidates(self, proj: ir.Projection, a, b, pre_local, post_local, weight):
        """Add inactive candidate slots for regrowth: every other pair of the projection's pre neurons in
        group `a` and post neurons in group `b` (no self-synapses), with the projection's mean |w| and sign."""
        pool_pre = np.unique(proj.pre[self.block_of[proj.pre] == a])
        pool_post = np.unique(proj.post[self.block_of[proj.post] == b])
        existing = set(zip(pre_local.tolist(), post_local.tolist()))
        pairs = [
            (int(self.local[i]), int(self.local[j]))
            for i in pool_pre
            for j in pool_post
            if i != j and (int(self.local[i]), int(self.local[j])) not in existing
        ]
        cand_pre = np.array([i for i, _ in pairs], dtype=np.int64)
        cand_post = np.array([j for _, j in pairs], dtype=np.int64)
        mean_w = float(np.mean(np.abs(proj.weight))) if len(proj.weight) else 0.0
        sign = 1.0 if (len(proj.weight) == 0 or np.mean(proj.weight) >= 0) else -1.0
        return (
            np.r_[pre_local, cand_pre].astype(np.int64),
            np.r_[post_local, cand_post].astype(np.int64),
            np.r_[weight, np.full(len(pairs), sign * mean_w)],
            cand_pre,
        )

    def _modulator_inputs(self, proj: ir.Projection, params: dict, b: int) -> list:
        """Neuromodulator spikes (e.g. dopaminergic CEP/ADE/PDE) and external rewards raise D in the targets."""
        b2 = self.b2
        rule = next(r for r in proj.plasticity if r.rule == "reward_stdp")
        var = params["modulator_var"]
        if (var, b) in self.modulated:  # one set of inputs per (signal, target group), however many plans
            return []
        self.modulated.add((var, b))
        objs = []
        for a in np.unique(self.block_of[rule.modulators]) if len(rule.modulators) else []:
            mods = self.local[rule.modulators[self.block_of[rule.modulators] == a]]
            s = b2.Synapses(
                self.groups[a], self.groups[b], on_pre=f"{var}_post += 1", name=f"mod_{var}_{a}_{b}"
            )
            s.connect(
                i=np.repeat(mods, len(self.groups[b])), j=np.tile(np.arange(len(self.groups[b])), len(mods))
            )
            objs.append(s)
        if len(rule.reward_times):
            # One generator channel per pulse, so each pulse delivers its own amount.
            n_pulses, n_post = len(rule.reward_times), len(self.groups[b])
            gen = b2.SpikeGeneratorGroup(
                n_pulses, np.arange(n_pulses), rule.reward_times * b2.second, name=f"reward_{var}_{b}"
            )
            s = b2.Synapses(
                gen,
                self.groups[b],
                model="amount : 1 (constant)",
                on_pre=f"{var}_post += amount",
                name=f"rewardsyn_{var}_{b}",
            )
            s.connect(i=np.repeat(np.arange(n_pulses), n_post), j=np.tile(np.arange(n_post), n_pulses))
            s.amount = np.repeat(np.asarray(rule.reward_amounts, dtype=float), n_post)
            objs += [gen, s]
        return objs

    def _weight_dt(self) -> float:
        dts = [p.dt for p in self.net_ir.probes]
        return max(min(dts) if dts else 1e-3, self.net_ir.dt)

    def _make_probes(self) -> list:
        b2 = self.b2
        objs = []
        for probe in self.net_ir.probes:
            for k, group in enumerate(self.groups):
                members = probe.indices[self.block_of[probe.indices] == k]
                if not len(members):
                    continue
                mon = b2.StateMonitor(
                    group,
                    list(probe.variables),
                    record=self.local[members],
                    dt=max(probe.dt, self.net_ir.dt) * b2.second,
                )
                self.state_monitors.append((mon, probe, members))
                objs.append(mon)
        return objs

    # --- structural plasticity ----------------------------------------------------------------------------------
    def run_with_structural(self, net, report: Callable[[float], None] | None = None) -> None:
        """Run in chunks of the rule's interval, pruning and regrowing synapses between chunks."""
        b2 = self.b2
        interval = min(params["interval"] for _, params, _ in self.structural)
        for sobj, params, _ in self.structural:
            _enforce_limit(sobj.obj, params["limit"])
        elapsed = 0.0
        self._count_synapses(0.0)
        duration = self.net_ir.duration
        while elapsed < duration - 1e-12:
            chunk = min(interval, duration - elapsed)
            net.run(chunk * b2.second)
            elapsed += chunk
            for sobj, params, rng in self.structural:
                _prune_and_regrow(sobj.obj, params, rng)
            self._count_synapses(elapsed)
            if report is not None:
                report(min(elapsed / duration, 1.0))

    def _count_synapses(self, t: float) -> None:
        self.synapse_counts.append((t, int(sum(np.sum(s.obj.alive[:]) for s, _, _ in self.structural))))

    # --- read back ----------------------------------------------------------------------------------------------
    def collect(self) -> Result:
        names = list(self.net_ir.names)
        spikes: dict[str, np.ndarray] = {n: np.zeros(0) for n in names}
        for block, mon in zip(self.net_ir.blocks, self.spike_monitors):
            trains = mon.spike_trains()
            for j, n in enumerate(block.indices):
                spikes[names[n]] = np.asarray(trains[j] / self.b2.second, dtype=float)
        traces: dict[str, Trace] = {}
        for var in sorted({v for p in self.net_ir.probes for v in p.variables}):
            parts = [(mon, members) for mon, probe, members in self.state_monitors if var in probe.variables]
            times = np.asarray(parts[0][0].t / self.b2.second)
            n_t = min(len(np.asarray(m.t)) for m, _ in parts)
            values = np.concatenate([np.asarray(getattr(m, var)[:, :n_t]).T for m, _ in parts], axis=1)
            channels = [names[i] for _, members in parts for i in members]
            traces[var] = Trace(times[:n_t], channels, values, PROBE_UNITS.get(var, ""))
        if self.synapse_counts:
            t, c = zip(*self.synapse_counts)
            traces["synapse_count"] = Trace(np.array(t), ["active_synapses"], np.array(c)[:, None], "count")
        weights: dict[str, Trace] = {}
        for sobj, mon in self.weight_monitors:
            proj = sobj.projection
            syn = sobj.obj
            i_pre, j_post = np.asarray(syn.i[:]), np.asarray(syn.j[:])
            rec = np.asarray(mon.record)
            pre_names = self._names_of(syn.source, i_pre[rec])
            post_names = self._names_of(syn.target, j_post[rec])
            channels = [f"{a}->{b}" for a, b in zip(pre_names, post_names)]
            values = np.asarray(mon.w_signed[:]).T
            unit = "A" if SYNAPSE_KIND[proj.synapse] == CURRENT else "S"
            new = Trace(np.asarray(mon.t / self.b2.second), channels, values, unit)
            if proj.name in weights:
                old = weights[proj.name]
                n_t = min(len(old.times), len(new.times))
                new = Trace(
                    old.times[:n_t],
                    old.channels + new.channels,
                    np.concatenate([old.values[:n_t], new.values[:n_t]], axis=1),
                    old.unit,
                )
            weights[proj.name] = new
        return Result(
            neuron_names=names,
            duration=self.net_ir.duration,
            dt=self.net_ir.dt,
            spike_times=spikes,
            traces=traces,
            weights=weights,
            metadata={},
        )

    def _names_of(self, group, local: np.ndarray) -> list[str]:
        k = self.groups.index(group)
        block = self.net_ir.blocks[k]
        return [self.net_ir.names[block.indices[j]] for j in local]


def _generator_spikes(trains: list[np.ndarray], dt: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Indices and times for a SpikeGeneratorGroup, which allows one spike per channel and time step:
    a source's k-th spike within one step goes to channel `k·n_sources + source` (layer k)."""
    n = len(trains)
    if not n or not sum(len(t) for t in trains):
        return np.zeros(0, dtype=np.int64), np.zeros(0), 1
    src = np.concatenate([np.full(len(t), j, dtype=np.int64) for j, t in enumerate(trains)])
    times = np.concatenate([np.asarray(t, dtype=float) for t in trains])
    steps = np.floor(times / dt + 1e-3).astype(np.int64)  # Brian2's binning of generator times
    order = np.lexsort((steps, src))
    src, steps, times = src[order], steps[order], times[order]
    layer = np.zeros(len(src), dtype=np.int64)
    same = (src[1:] == src[:-1]) & (steps[1:] == steps[:-1])
    for k in np.flatnonzero(same):  # runs of spikes in one step: 0, 1, 2, ...
        layer[k + 1] = layer[k] + 1
    return layer * n + src, times, int(layer.max()) + 1


def _enforce_limit(syn, limit: int) -> None:
    """Deactivate the weakest active synapses beyond `limit` (a spec may cap below the initial count)."""
    w = np.asarray(syn.w_[:])
    active = np.asarray(syn.alive[:]).astype(bool)
    excess = int(active.sum()) - limit
    if excess > 0:
        on = np.flatnonzero(active)
        drop = on[np.argsort(w[on], kind="stable")[:excess]]
        active[drop] = False
        w[drop] = 0.0
        syn.alive_[:] = active.astype(float)
        syn.w_[:] = w


def _prune_and_regrow(syn, params: dict, rng: np.random.Generator) -> None:
    """Prune active synapses below `w_floor`·|w0|; reactivate random free slots with `w_new`·mean|w0|,
    keeping ≤ `limit` active (`w_ref`: each slot's initial magnitude, `w_mean`: mean initial magnitude)."""
    w = np.asarray(syn.w_[:])
    active = np.asarray(syn.alive[:]).astype(bool)
    prune = active & (w < params["w_floor"] * params["w_ref"])
    active[prune] = False
    n_regrow = min(
        int(round(params["regrow_fraction"] * prune.sum())), max(params["limit"] - int(active.sum()), 0)
    )
    free = np.flatnonzero(~active & ~prune)
    grow = rng.choice(free, size=min(n_regrow, len(free)), replace=False) if n_regrow and len(free) else []
    active[grow] = True
    w[~active] = 0.0
    w[grow] = params["w_new"] * params["w_mean"]
    syn.alive_[:] = active.astype(float)
    syn.w_[:] = w


def _unit_of(b2, param: str):
    """Brian2 unit of a neuron parameter, by the registry's dimension."""
    dims = {
        "time": b2.second,
        "voltage": b2.volt,
        "current": b2.amp,
        "conductance": b2.siemens,
        "capacitance": b2.farad,
        "frequency": b2.Hz,
        "dimensionless": 1,
    }
    for model in NEURON_MODELS.values():
        if param in model.params:
            return dims[model.params[param].dimension]
    raise KeyError(param)
