"""The search space: paths, bounds, scales, units, signs, and the errors of a wrong `fit` section."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.circuits.errors import SpecError
from wormchip.circuits.loader import load_spec, parse_spec, to_yaml
from wormchip.fit.params import ParameterSpace, set_value


def test_space_maps_unit_cube_to_values_in_the_spec(fit_spec_path) -> None:
    spec = load_spec(fit_spec_path)
    space = ParameterSpace(spec)
    assert space.size == 3
    gain, bias, sign = space.variables
    # the spec's own values as the start point: gain 0.02 on a log scale of [0.005, 0.1]
    assert space.x0()[0] == pytest.approx(np.log(0.02 / 0.005) / np.log(0.1 / 0.005))
    assert space.x0()[1] == pytest.approx((0.08 - 0.02) / (0.12 - 0.02))
    candidate = space.apply(np.array([1.0, 0.0, 0.2]))
    assert candidate.bindings[0].motors[0].gain == pytest.approx(0.1)
    inter = next(p for p in candidate.populations if p.name == "inter")
    assert inter.params["I_bias"] == "0.02 nA"  # written back in the unit of `low`
    override = candidate.connections[0].sign_overrides[-1]
    assert (override.pre, override.post, override.sign) == (["ASEL"], ["AIY"], "inhibitory")
    assert space.apply(np.array([0.5, 0.5, 0.7])).connections[0].sign_overrides[-1].sign == "excitatory"
    assert space.values(np.array([0.0, 1.0, 0.9]))["populations.inter.params.I_bias"] == "0.12 nA"
    again = parse_spec(to_yaml(candidate))  # a candidate is a complete spec
    assert again == candidate


def test_edge_weights_expand_to_one_variable_per_edge() -> None:
    spec = load_spec("tap_withdrawal")
    spec = parse_spec(to_yaml(spec) + "fit:\n  parameters:\n    - {path: connections.chemical.edges.weight, low: -3, high: 3}\n"
                      "  objectives:\n    - {metric: return, world: 'gym:CartPole-v1'}\n")  # fmt: skip
    space = ParameterSpace(spec)
    assert space.size == 26
    x = np.linspace(0, 1, 26)
    weights = [e.weight for e in space.apply(x).connections[0].edges]
    assert weights == pytest.approx(-3 + 6 * x)


def test_wrong_paths_and_bounds_name_field_line_and_fix(tmp_path) -> None:
    text = to_yaml(load_spec("klinotaxis")) + (
        "fit:\n  parameters:\n"
        "    - {path: populations.intr.params.I_bias, low: '0 nA', high: '1 nA'}\n"
        "    - {path: connections.chemical.weight_scale, low: '200 pA', high: '10 pA'}\n"
        "    - {path: 'bindings[0].motors[0].gain', low: 0, high: 1, scale: log}\n"
        "    - {path: connections.chemical.weight_scale, low: '1 mV', high: '2 mV'}\n"
        "  objectives:\n    - {metric: chemotaxis_index}\n"
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        ParameterSpace(load_spec(path))
    lines = text.splitlines()
    message = str(err.value)
    assert "4 problems" in message
    assert message.startswith(f"{path}: 4 problems")
    assert f"line {lines.index(next(x for x in lines if 'intr' in x)) + 1}: fit.parameters[0].path" in message
    assert (
        "fit.parameters[0].path: path does not exist: no item named 'intr'; did you mean 'inter'?" in message
    )
    assert "fit.parameters[1].high: bounds are reversed" in message
    assert "fit.parameters[2].low: a log scale needs bounds > 0" in message
    assert "fit.parameters[3].low: bounds and the value must have the same kind of unit" in message


def test_set_value_for_sweeps() -> None:
    spec = set_value(load_spec("klinotaxis"), "connections.gap.weight_scale", "1 nS")
    assert spec.connections[1].weight_scale == "1 nS"
    with pytest.raises(SpecError, match="did you mean 'weight_scale'"):
        set_value(spec, "connections.gap.weightscale", "1 nS")
