"""The whole wormchip network as one custom Nengo neuron type with its own builder and operator.

Gap junctions, conductance synapses and graded synapses make a cell's input depend on its own v and on the
v of other cells, which Nengo's connections (currents, filtered per connection) cannot express. So the
membrane equation of every cell, and the synaptic state feeding it, are integrated by one operator
(`SimWormchipCells`), exactly as Brian2 integrates the registry's equations (`brian2_equations.py`), in
Brian2's step order:

1. summed variables from v at the start of the step: I_gap = G v − g_gap v (G: both directions),
   graded g = Σ|w| σ(s (v_pre − μ)) and Σ|w| σ E_rev;
2. exponential Euler for v, unless refractory (v ← v∞ + (v − v∞) e^(−dt Σg / C_m)), exact decay of the
   synaptic currents and conductances (per τ) and of the adaptation current;
3. threshold v > v_th (not refractory), counted in whole steps as Brian2's `timestep(t_ref, dt)`;
4. spikes (and spike inputs binned to this step) added to I_syn / g_e / g_i through sparse post × pre
   matrices, delays as ring buffers of whole steps;
5. reset v = v_reset, w_adapt += b.

Nengo still provides the simulator, the input current (a Node into `ensemble.neurons`, in amperes: gain 1,
bias 0), the spike output (Nengo's pulses of height 1/dt) and probes of every state variable.
"""

from __future__ import annotations

from dataclasses import dataclass

import nengo
import numpy as np
import scipy.sparse as sp
from nengo.builder import Builder, Operator, Signal

from wormchip import ir

#: Probeable state, all per cell, in SI units (the names Brian2's monitors use, except Nengo's `voltage`).
STATE = ("voltage", "I_syn", "g_e", "g_i", "I_gap", "w_adapt", "tau_eff")
_E_E, _E_I = 0.0, -0.09  # Brian2's defaults where a model has no reversal potentials


@dataclass
class _Route:
    """Spike-driven synapses of one target state (`kind` row `row`) and delay: post × source matrix."""

    kind: str  # "I" (current), "ge", "gi" (conductance)
    row: int  # index of the τ in that kind's state
    delay: int  # whole steps
    matrix: sp.spmatrix


class NetworkDynamics:
    """Per-cell parameters and synaptic matrices of an IR network, and the state of one run."""

    def __init__(self, network: ir.Network) -> None:
        n, dt = network.size, network.dt
        self.n, self.dt = n, dt
        defaults = {"E_e": _E_E, "E_i": _E_I, "tau_w": np.inf, "b": 0.0}
        names = ("C_m", "g_L", "E_L", "v_th", "v_reset", "t_ref", "I_bias", *defaults)
        p = {k: np.zeros(n) for k in names}
        for block in network.blocks:
            for k in names:
                p[k][block.indices] = block.params.get(k, defaults.get(k, 0.0))
        self.p = p
        # Brian2's refractory test: timestep(t − lastspike, dt) ≥ timestep(t_ref, dt), timestep = ⌊t/dt + 10⁻³⌋.
        self.ref_steps = np.floor(p["t_ref"] / dt + 1e-3).astype(np.int64)
        self.w_decay = np.exp(-dt / p["tau_w"])
        self.tau = {"I": [], "g": []}
        self.routes: list[_Route] = []
        self.inputs: list[tuple[_Route, dict[int, tuple[np.ndarray, np.ndarray]]]] = []
        gap_rows, gap_cols, gap_w = [], [], []
        graded: dict[tuple[float, float], list[tuple[np.ndarray, ...]]] = {}
        for proj in network.projections:
            w = np.abs(proj.weight)
            if proj.synapse == "gap_junction":
                gap_rows += [proj.post, proj.pre]
                gap_cols += [proj.pre, proj.post]
                gap_w += [w, w]
            elif proj.synapse == "graded_sigmoid":
                e_rev = np.where(proj.weight >= 0, p["E_e"][proj.post], p["E_i"][proj.post])
                key = (proj.params["mu"], proj.params["sigma"])
                graded.setdefault(key, []).append((proj.post, proj.pre, w, e_rev))
            else:
                self.routes += self._routes(proj.synapse, proj.params, proj.post, proj.pre, proj.weight, n)
        for inp in network.spike_inputs:
            src = np.arange(len(inp.target))
            table = spike_table(inp.spike_times, dt, network.duration)
            for route in self._routes(inp.synapse, inp.params, inp.target, src, inp.weight, len(src)):
                route.matrix = route.matrix.tocsc()  # columns of the sources that spiked in a step
                self.inputs.append((route, table))
        self.gap = _csr(np.concatenate(gap_rows or [[]]), np.concatenate(gap_cols or [[]]), gap_w, n, n)
        self.g_gap = np.asarray(self.gap.sum(axis=1)).ravel()
        self.graded = []  # (μ, steepness per volt, Σ|w| matrix, Σ|w|·E_rev matrix)
        for (mu, steep), parts in graded.items():
            post, pre = (np.concatenate(x) for x in list(zip(*parts))[:2])
            g_max = _csr(post, pre, [w for *_, w, _ in parts], n, n)
            g_rev = _csr(post, pre, [w * e for *_, w, e in parts], n, n)
            self.graded.append((mu, steep * 1e3, g_max, g_rev))  # σ's argument is in mV
        self.decay = {k: np.exp(-dt / np.array(v))[:, None] for k, v in self.tau.items()}

    def _routes(self, synapse, params, post, pre, weight, n_src) -> list[_Route]:
        """exp_current → I_syn row of τ; exp_conductance → g_e (w > 0) and g_i (w < 0) rows of τ."""
        kind = "I" if synapse == "exp_current" else "g"
        taus = self.tau[kind]
        if params["tau"] not in taus:
            taus.append(params["tau"])
        row = taus.index(params["tau"])
        delay = int(round(params.get("delay", 0.0) / self.dt))
        if kind == "I":
            return [_Route("I", row, delay, _csr(post, pre, [weight], self.n, n_src))]
        return [
            _Route(name, row, delay, _csr(post[sel], pre[sel], [np.abs(weight[sel])], self.n, n_src))
            for name, sel in (("ge", weight > 0), ("gi", weight < 0))
            if sel.any()
        ]

    def initial(self) -> dict[str, np.ndarray]:
        """State at t = 0 as Brian2 records it: v = E_L, summed variables not yet computed (zero)."""
        p = self.p
        zero = np.zeros(self.n)
        return {
            "voltage": p["E_L"].copy(),
            "I_syn": zero.copy(),
            "g_e": zero.copy(),
            "g_i": zero.copy(),
            "I_gap": -self.g_gap * p["E_L"],
            "w_adapt": zero.copy(),
            "tau_eff": p["C_m"] / (p["g_L"] + self.g_gap),
        }

    def make_step(self, J: np.ndarray, output: np.ndarray, state: dict[str, np.ndarray]):
        """A fresh run: the step function that advances `state` (Nengo's signals) by one dt."""
        p, dt, n = self.p, self.dt, self.n
        v, w_adapt = state["voltage"], state["w_adapt"]
        syn = {
            "I": np.zeros((len(self.tau["I"]), n)),
            "ge": np.zeros((len(self.tau["g"]), n)),
            "gi": np.zeros((len(self.tau["g"]), n)),
        }
        decay = {"I": self.decay["I"], "ge": self.decay["g"], "gi": self.decay["g"]}
        routes = [*((r, None) for r in self.routes), *self.inputs]
        rings = [np.zeros((r.delay + 1, n)) if r.delay else None for r, _ in routes]
        last = np.full(n, -(2**40), dtype=np.int64)
        leak = p["g_L"] * p["E_L"] + p["I_bias"]
        # Without conductance or graded synapses the total conductance, hence v's decay factor, is constant.
        varying = bool(self.tau["g"] or self.graded)
        v_decay = np.exp(-dt * (p["g_L"] + self.g_gap) / p["C_m"])
        step_no = [0]

        def total(x: np.ndarray) -> np.ndarray | float:
            """Sum over the τ rows of one synaptic state (a view when there is one row)."""
            return x[0] if len(x) == 1 else (x.sum(axis=0) if len(x) else 0.0)

        def step() -> None:
            k = step_no[0]
            step_no[0] += 1
            free = (k - last) >= self.ref_steps
            gjv = self.gap @ v if self.gap.nnz else 0.0
            gg = gge = 0.0
            for mu, steep, g_max, g_rev in self.graded:
                s = 1.0 / (1.0 + np.exp(-steep * (v - mu)))
                gg = gg + g_max @ s
                gge = gge + g_rev @ s
            ge, gi = total(syn["ge"]), total(syn["gi"])
            drive = leak + total(syn["I"]) + ge * p["E_e"] + gi * p["E_i"] + gge + gjv - w_adapt + J
            g_tot = p["g_L"] + ge + gi + gg + self.g_gap
            factor = np.exp(-dt * g_tot / p["C_m"]) if varying else v_decay
            v_inf = drive / g_tot
            np.copyto(v, v_inf + (v - v_inf) * factor, where=free)
            for name, x in syn.items():
                x *= decay[name]
            np.multiply(w_adapt, self.w_decay, out=w_adapt)
            spiked = free & (v > p["v_th"])
            fired = spiked.any()
            for (route, table), ring in zip(routes, rings):
                add = None
                if table is None:
                    if fired:
                        add = route.matrix @ spiked.astype(float)
                elif k in table:
                    src, count = table[k]
                    add = route.matrix[:, src] @ count
                target = syn[route.kind][route.row]
                if ring is None:
                    if add is not None:
                        target += add
                    continue
                if add is not None:
                    ring[(k + route.delay) % len(ring)] += add
                slot = ring[k % len(ring)]
                target += slot
                slot[:] = 0.0
            if fired:
                v[spiked] = p["v_reset"][spiked]
                w_adapt[spiked] += p["b"][spiked]
                last[spiked] = k
            output[:] = spiked / dt
            # Observables as Brian2's monitors see them at the start of the next step.
            ge, gi = total(syn["ge"]), total(syn["gi"])
            state["I_syn"][:] = total(syn["I"])
            state["g_e"][:] = ge
            state["g_i"][:] = gi
            state["I_gap"][:] = gjv - self.g_gap * v
            state["tau_eff"][:] = p["C_m"] / (p["g_L"] + ge + gi + gg + self.g_gap)

        return step


def spike_table(
    trains: tuple[np.ndarray, ...], dt: float, duration: float
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Step → (sources, counts), with Brian2's binning of generator times (⌊t/dt + 10⁻³⌋)."""
    steps = int(round(duration / dt))
    src = np.concatenate(
        [np.full(len(t), j, dtype=np.int64) for j, t in enumerate(trains)] or [np.zeros(0, int)]
    )
    times = np.concatenate([np.asarray(t, dtype=float) for t in trains] or [np.zeros(0)])
    step = np.floor(times / dt + 1e-3).astype(np.int64)
    keep = (step >= 0) & (step < steps)
    table: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not keep.any():
        return table
    pairs, counts = np.unique(np.stack([step[keep], src[keep]], axis=1), axis=0, return_counts=True)
    bounds = np.flatnonzero(np.diff(pairs[:, 0])) + 1
    for rows, cnt in zip(np.split(pairs, bounds), np.split(counts, bounds)):
        table[int(rows[0, 0])] = (rows[:, 1], cnt.astype(float))
    return table


def _csr(rows, cols, weights: list[np.ndarray], n_rows: int, n_cols: int) -> sp.csr_matrix:
    """Sparse post × pre matrix, duplicate synapses summed."""
    vals = np.concatenate(weights) if weights else np.zeros(0)
    m = sp.coo_matrix((vals, (np.asarray(rows, int), np.asarray(cols, int))), shape=(n_rows, n_cols))
    return m.tocsr()


class WormchipCells(nengo.neurons.NeuronType):
    """All cells of one wormchip network: Nengo's `J` is the injected current in amperes (gain 1, bias 0),
    the output Nengo's spike pulses; the dynamics live in `SimWormchipCells` (built by `build_cells`)."""

    state = dict.fromkeys(STATE, nengo.dists.Choice([0.0]))
    spiking = True
    negative = False

    def __init__(self, dynamics: NetworkDynamics) -> None:
        super().__init__()
        self.dynamics = dynamics

    def max_rates_intercepts(self, gain, bias):
        """Not defined for a coupled network (Nengo asks only for its build report)."""
        return np.full(len(gain), np.nan), np.full(len(gain), np.nan)


class SimWormchipCells(Operator):
    """Advance every cell and synapse of the network one step (sets output and state; reads J)."""

    def __init__(self, dynamics: NetworkDynamics, J: Signal, output: Signal, state: dict[str, Signal]):
        super().__init__(tag="wormchip cells")
        self.dynamics = dynamics
        self.names = list(state)
        self.sets = [output, *state.values()]
        self.incs, self.reads, self.updates = [], [J], []

    def make_step(self, signals, dt, rng):
        state = {k: signals[s] for k, s in zip(self.names, self.sets[1:])}
        return self.dynamics.make_step(signals[self.reads[0]], signals[self.sets[0]], state)


@Builder.register(WormchipCells)
def build_cells(model, neuron_type: WormchipCells, neurons) -> None:
    """One signal per state variable (probeable as `ens.neurons`, attribute name) and the operator."""
    state = {}
    for key, init in neuron_type.dynamics.initial().items():
        model.sig[neurons][key] = state[key] = Signal(initial_value=init, name=f"{neurons}.{key}")
    model.add_op(
        SimWormchipCells(neuron_type.dynamics, model.sig[neurons]["in"], model.sig[neurons]["out"], state)
    )
