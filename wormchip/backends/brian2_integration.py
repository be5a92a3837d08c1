"""Exponential Euler with the per-step constants computed once (Brian2 state update method).

Brian2's exponential Euler writes `x ← −B/A + (x + B/A)·exp(A·dt)` for `dx/dt = A·x + B` and evaluates A and
exp(A·dt) in every step for every neuron. For the membrane of a current-based cell A = −(g_L + g_gap)/C_m is a
per-neuron constant (the gap-junction total conductance is static), so `ConstantDecayEuler` reads A and
exp(A·dt) from two per-neuron constants, `lam_<x>` and `decay_<x>`, which `set_constant_decay` fills once
before the run with Brian2's own code for the same expressions (same target, same compiler flags). The
update is the same formula on the same numbers: one division by `lam_<x>` and one product replace the
per-step exp, its argument and the denominator's divisions.

Variables without `lam_<x>`/`decay_<x>` (or whose A is not a per-neuron constant) use the standard scheme.
"""

from __future__ import annotations

import sympy as sp
from brian2.parsing.sympytools import sympy_to_str
from brian2.stateupdaters.base import UnsupportedEquationsException, extract_method_options
from brian2.stateupdaters.exponential_euler import (
    ExponentialEulerStateUpdater,
    get_conditionally_linear_system,
)

#: Names of the per-neuron constants that hold A and exp(A·dt) of variable x.
LAM, DECAY = "lam_{}", "decay_{}"


def constant_decay_variables(group) -> list[str]:
    """State variables of `group` that declare `lam_<x>` and `decay_<x>` parameters."""
    names = group.equations.diff_eq_names
    return [
        x for x in sorted(names) if LAM.format(x) in group.variables and DECAY.format(x) in group.variables
    ]


def set_constant_decay(group) -> None:
    """Fill `lam_<x>` = A and `decay_<x>` = exp(A·dt) of every such variable (call after the parameters A
    reads are set; string assignments, so Brian2 evaluates them with the run's target and clock)."""
    system = get_conditionally_linear_system(group.user_equations, group.variables)
    for x in constant_decay_variables(group):
        a, _ = system[x]
        _check_constant(x, a, group.variables)
        setattr(group, LAM.format(x), sympy_to_str(a))
        setattr(group, DECAY.format(x), f"exp(dt*{LAM.format(x)})")


def _check_constant(x: str, a, variables) -> None:
    """A must be a nonzero expression of per-neuron constants (parameters flagged `constant`)."""
    if a == 0:
        raise ValueError(f"{x}: the linear coefficient is 0; no decay to precompute")
    for symbol in a.free_symbols:
        var = variables.get(str(symbol))
        if var is None or not getattr(var, "constant", False):
            raise ValueError(f"{x}: the linear coefficient {a} depends on {symbol}, which is not constant")


class ConstantDecayEuler(ExponentialEulerStateUpdater):
    """Exponential Euler reading A and exp(A·dt) from `lam_<x>`/`decay_<x>` where a group declares them."""

    def __call__(self, equations, variables=None, method_options=None):
        extract_method_options(method_options, {})
        if equations.is_stochastic:
            raise UnsupportedEquationsException("Cannot solve stochastic equations with this state updater.")
        try:
            system = get_conditionally_linear_system(equations, variables)
        except ValueError as err:
            raise UnsupportedEquationsException(
                "Can only solve conditionally linear systems with this state updater."
            ) from err
        code = []
        s_dt = sp.Symbol("dt")
        for var, (a, b) in system.items():
            s_var = sp.Symbol(var)
            lam, decay = LAM.format(var), DECAY.format(var)
            precomputed = variables is not None and lam in variables and decay in variables
            if precomputed and a != 0:
                gated = "not_refractory" in str(a)
                if gated and getattr(variables.get(var), "conditional_write", None) is None:
                    precomputed = False  # refractory would have to freeze x through exp(0) = 1
            if precomputed and a != 0:
                # x ← −B/A + (x + B/A)·exp(A·dt) with A and exp(A·dt) read from constants. In refractory
                # steps A = B = 0 and Brian2 does not write x back (conditional write on not_refractory).
                if b != 0:
                    ba = f"_BA_{var}"
                    code.append(f"{ba} = {sympy_to_str(b / sp.Symbol(lam))}")
                    s_ba = sp.Symbol(ba)
                    update = (s_var + s_ba) * sp.Symbol(decay) - s_ba
                else:
                    update = s_var * sp.Symbol(decay)
            elif a == 0:
                update = s_var + s_dt * b
            elif b != 0:
                ba = f"_BA_{var}"
                s_ba = sp.Symbol(ba)
                code.append(f"{ba} = {sympy_to_str(b / a)}")
                update = (s_var + s_ba) * sp.exp(a * s_dt) - s_ba
            else:
                update = s_var * sp.exp(a * s_dt)
            code.append(f"_{var} = {sympy_to_str(update)}")
        code += [f"{var} = _{var}" for var in system]
        return "\n".join(code)


constant_decay_euler = ConstantDecayEuler()
