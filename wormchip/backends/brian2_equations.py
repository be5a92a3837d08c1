"""Brian2 equation text for the registry's models, generated per network (pure string functions).

Every neuron group gets the same observable variables (v, I_syn, g_e, g_i, I_gap, tau_eff, w_adapt) so
probes work whatever the model; each incoming synapse object adds its own state or summed variables
(suffix `_<key>`), because Brian2 allows one summed-variable writer per target variable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Incoming channel kinds: how a synapse object writes into its target group.
CURRENT, CONDUCTANCE, GRADED, GAP = "current", "conductance", "graded", "gap"


@dataclass
class Channel:
    """One incoming synapse object's variables in the target neuron group."""

    key: str
    kind: str
    tau: float | None = None  # seconds, for exponential synapses


@dataclass
class NeuronEquations:
    """Text pieces for one Brian2 NeuronGroup."""

    model: str
    conductance_based: bool
    channels: list[Channel] = field(default_factory=list)
    rate_traces: dict[str, float] = field(default_factory=dict)  # homeostasis: var → tau_r (s)
    modulators: dict[str, float] = field(default_factory=dict)  # reward STDP: var → tau_D (s)
    has_current_input: bool = False

    def equations(self) -> str:
        lines = [
            "dv/dt = (g_L*(E_L - v) + I_syn + I_cond + I_graded + I_gap - w_adapt + I_bias + I_ext)/C_m "
            ": volt (unless refractory)",
            f"I_syn = {_sum([f'I_{c.key}' for c in self._of(CURRENT)], 'amp')} : amp",
            f"g_e = {_sum([f'ge_{c.key}' for c in self._of(CONDUCTANCE)], 'siemens')} : siemens",
            f"g_i = {_sum([f'gi_{c.key}' for c in self._of(CONDUCTANCE)], 'siemens')} : siemens",
            "I_cond = g_e*(E_e - v) + g_i*(E_i - v) : amp",
            f"g_graded = {_sum([f'gg_{c.key}' for c in self._of(GRADED)], 'siemens')} : siemens",
            f"I_graded = {_sum([f'ggE_{c.key}' for c in self._of(GRADED)], 'amp')} - g_graded*v : amp",
            f"g_gap = {_sum([f'gj_{c.key}' for c in self._of(GAP)], 'siemens')} : siemens",
            f"I_gap = {_sum([f'gjv_{c.key}' for c in self._of(GAP)], 'amp')} - g_gap*v : amp",
            "tau_eff = C_m/(g_L + g_e + g_i + g_graded + g_gap) : second",
            "I_ext = stimulus(t, stim_col) : amp" if self.has_current_input else "I_ext = 0*amp : amp",
            "stim_col : integer (constant)",
        ]
        for name in (
            "C_m : farad",
            "g_L : siemens",
            "E_L : volt",
            "v_th : volt",
            "v_reset : volt",
            "t_ref : second",
            "I_bias : amp",
            "E_e : volt",
            "E_i : volt",
        ):
            lines.append(f"{name} (constant)")
        if self.model == "adaptive_lif":
            lines += ["dw_adapt/dt = -w_adapt/tau_w : amp", "tau_w : second (constant)", "b : amp (constant)"]
            lines += _decay_constants("w_adapt")
        else:
            lines.append("w_adapt = 0*amp : amp")
        if self.constant_membrane_decay:
            lines += _decay_constants("v")
        for c in self.channels:
            if c.kind == CURRENT:
                lines.append(f"dI_{c.key}/dt = -I_{c.key}/({c.tau!r}*second) : amp")
            elif c.kind == CONDUCTANCE:
                lines.append(f"dge_{c.key}/dt = -ge_{c.key}/({c.tau!r}*second) : siemens")
                lines.append(f"dgi_{c.key}/dt = -gi_{c.key}/({c.tau!r}*second) : siemens")
            elif c.kind == GRADED:
                lines += [f"gg_{c.key} : siemens", f"ggE_{c.key} : amp"]
            elif c.kind == GAP:
                lines += [f"gj_{c.key} : siemens (constant)", f"gjv_{c.key} : amp"]
        for var, tau in self.rate_traces.items():
            lines.append(f"d{var}/dt = -{var}/({tau!r}*second) : Hz")
        for var, tau in self.modulators.items():
            lines.append(f"d{var}/dt = -{var}/({tau!r}*second) : 1")
        return "\n".join(lines)

    @property
    def constant_membrane_decay(self) -> bool:
        """v's linear coefficient −(g_L + g_gap)/C_m is a per-neuron constant: no conductance or graded
        input (whose conductances change every step) reaches the group."""
        return not self._of(CONDUCTANCE) and not self._of(GRADED)

    def reset(self) -> str:
        lines = ["v = v_reset"]
        if self.model == "adaptive_lif":
            lines.append("w_adapt += b")
        lines += [f"{var} += 1/({tau!r}*second)" for var, tau in self.rate_traces.items()]
        return "\n".join(lines)

    def _of(self, kind: str) -> list[Channel]:
        return [c for c in self.channels if c.kind == kind]


def _decay_constants(var: str) -> list[str]:
    """Per-neuron constants A and exp(A·dt) of `var` (filled before the run; see brian2_integration)."""
    return [f"lam_{var} : Hz (constant)", f"decay_{var} : 1 (constant)"]


def _sum(terms: list[str], unit: str) -> str:
    return " + ".join(terms) if terms else f"0*{unit}"


@dataclass
class SynapseEquations:
    """Model / on_pre / on_post text for one Brian2 Synapses object."""

    model: str
    on_pre: str
    on_post: str | None


def synapse_equations(kind: str, key: str, rules: dict[str, dict[str, float]], unit: str) -> SynapseEquations:
    """Equations for a synapse object of `kind` writing channel `key`, with plasticity `rules` (name → params).

    Weights are stored as a magnitude `w` ≥ 0 with a sign `sgn` (±1), so STDP's clipping to [0, w_max] keeps
    Dale-like signs; `w_signed` is what is recorded. `alive` (0/1) supports structural plasticity
    (not `active`, which is every Brian2 object's on/off flag). Without `rules` the synapse is static and
    carries only what its event needs (`static_synapse_equations`).
    """
    if not rules:
        return static_synapse_equations(kind, key, unit)
    model = [
        f"w : {unit}",
        f"w_max : {unit} (constant)",
        "sgn : 1 (constant)",
        "alive : 1",
        f"w_signed = sgn*w*alive : {unit}",
    ]
    on_pre: list[str] = []
    on_post: list[str] = []
    if kind == GRADED:
        return SynapseEquations("\n".join(model + _graded_lines(key, "w*alive")), "", None)
    if kind == GAP:
        model += [
            f"gjv_{key}_post = w*alive*v_pre : amp (summed)",
        ]
        return SynapseEquations("\n".join(model), "", None)
    efficacy = "1"
    if "stp" in rules:
        p = rules["stp"]
        model += [
            f"dx_stp/dt = (1 - x_stp)/({p['tau_d']!r}*second) : 1 (event-driven)",
            f"du_stp/dt = ({p['U']!r} - u_stp)/({p['tau_f']!r}*second) : 1 (event-driven)",
        ]
        efficacy = "r_stp"
        on_pre.append("r_stp = u_stp*x_stp")
    if kind == CURRENT:
        on_pre.append(f"I_{key}_post += sgn*w*alive*{efficacy}")
    else:
        on_pre.append(f"ge_{key}_post += w*alive*{efficacy}*int(sgn > 0)")
        on_pre.append(f"gi_{key}_post += w*alive*{efficacy}*int(sgn < 0)")
    if "stp" in rules:
        on_pre += ["x_stp -= r_stp", f"u_stp += {rules['stp']['U']!r}*(1 - u_stp)"]
    dw_terms: list[str] = []  # continuous weight dynamics of all rules, summed into one ODE
    for name in ("stdp", "reward_stdp"):
        if name in rules:
            p = rules[name]
            model += [
                f"dapre/dt = -apre/({p['tau_plus']!r}*second) : 1 (event-driven)",
                f"dapost/dt = -apost/({p['tau_minus']!r}*second) : 1 (event-driven)",
            ]
            target = "w" if name == "stdp" else "c_elig"
            if name == "reward_stdp":
                model.append(f"dc_elig/dt = -c_elig/({p['tau_c']!r}*second) : 1 (clock-driven)")
                dw_terms.append(f"{p['eta']!r}*Hz*c_elig*{p['modulator_var']}_post*w_max*alive")
            on_pre += [f"apre += {p['A_plus']!r}", _pairing(target, "apost", name)]
            on_post = [f"apost += {p['A_minus']!r}", _pairing(target, "apre", name)]
    if "homeostatic_scaling" in rules:
        p = rules["homeostatic_scaling"]
        dw_terms.append(
            f"{p['eta']!r}*Hz*w*alive*({p['target_rate']!r}*Hz - {p['rate_var']}_post)/({p['target_rate']!r}*Hz)"
        )
    if "structural" in rules:
        p = rules["structural"]
        dw_terms.append(f"-{p['decay']!r}*Hz*w*alive")
    if dw_terms:  # w becomes a state variable (declaring it twice is an error in Brian2)
        model[0] = f"dw/dt = {' + '.join(dw_terms)} : {unit} (clock-driven)"
    return SynapseEquations("\n".join(model), "\n".join(on_pre), "\n".join(on_post) or None)


def static_synapse_equations(kind: str, key: str, unit: str) -> SynapseEquations:
    """Equations of a synapse object without plasticity: the same arithmetic as the plastic form with
    `alive` = 1 and w·sgn folded into a signed `w` for current synapses (multiplications by 1 and sign
    flips are exact, so the sums are bit-identical), one or two loads fewer per event or step."""
    if kind == GRADED:
        return SynapseEquations("\n".join([f"w : {unit}", *_graded_lines(key, "w")]), "", None)
    if kind == GAP:
        return SynapseEquations(f"w : {unit}\ngjv_{key}_post = w*v_pre : amp (summed)", "", None)
    if kind == CURRENT:  # w signed
        return SynapseEquations(f"w : {unit}", f"I_{key}_post += w", None)
    on_pre = [f"ge_{key}_post += w*int(sgn > 0)", f"gi_{key}_post += w*int(sgn < 0)"]
    return SynapseEquations(f"w : {unit}\nsgn : 1 (constant)", "\n".join(on_pre), None)


def _graded_lines(key: str, weight: str) -> list[str]:
    """A graded sigmoid synapse's parameters and summed conductances, with `weight` the expression of its
    weight (`w`, or `w*alive` in the plastic form)."""
    return [
        "E_syn : volt (constant)",
        "mu : volt (constant)",
        "steep : 1 (constant)",
        "sig = 1/(1 + exp(-steep*(v_pre - mu)/mV)) : 1",
        f"gg_{key}_post = {weight}*sig : siemens (summed)",
        f"ggE_{key}_post = {weight}*sig*E_syn : amp (summed)",
    ]


def _pairing(target: str, trace: str, rule: str) -> str:
    """Weight (STDP) or eligibility (reward STDP) update from the other side's trace."""
    if rule == "stdp":
        return f"w = clip(w + {trace}*w_max*alive, 0*w_max, w_max)"
    return f"{target} += {trace}"
