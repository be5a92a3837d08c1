"""`make demo` / `wormchip demo`: the flagship pipeline end to end, written up as one HTML report.

tap_withdrawal and whole_worm → simulate in Brian2 → compile for Loihi 2 → run in Lava (and the bit-exact
emulator) → compare Brian2 with Lava → compare whole_worm with the Randi et al. 2023 atlas (few shuffles).
Every step's figures and tables go into `out/demo/report.html` (self-contained; opens from disk).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wormchip.html_report import HtmlReport


@dataclass
class DemoSummary:
    """What the demo measured, for the terminal summary and tests."""

    report: Path
    lines: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)


def run_demo(
    out: str | Path = "out/demo",
    shuffles: int = 20,
    lava_duration: str = "300 ms",
    echo: Callable[[str], None] = print,
) -> DemoSummary:
    """Run the pipeline, write `out/report.html`, return the summary (also echoed line by line)."""
    from wormchip import plots
    from wormchip import worm_connectome as wc
    from wormchip.analysis.compare import compare
    from wormchip.circuits.loader import load_spec
    from wormchip.pipeline import build_circuit, compile_circuit, run_circuit

    out = Path(out)
    html = HtmlReport("wormchip demo: from the worm's wiring to a neuromorphic chip and back to biology")
    summary = DemoSummary(out / "report.html")
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        summary.timings[name] = now - clock
        clock = now

    def say(line: str) -> None:
        summary.lines.append(line)
        echo(line)

    # 1. Data ---------------------------------------------------------------------------------------------------
    c = wc.load()
    s = c.summary()
    html.heading("1. The connectome")
    html.text(
        "Cook et al. 2019 (Nature 571:63) hermaphrodite wiring, shipped offline; signs from transmitter identity "
        "(Wang et al. 2024)."
    )
    html.table([{k: v for k, v in s.items() if isinstance(v, int | float | str)}])
    say(
        f"connectome: {s['neurons']} neurons, {s['chemical_edges']} chemical edges, {s['gap_edges']} gap pairs"
    )
    step("connectome")

    # 2. tap_withdrawal in Brian2 -------------------------------------------------------------------------------
    html.heading("2. Tap withdrawal in Brian2 (conductance-based, 'liquid')")
    rows = []
    for site in ("anterior", "posterior"):
        spec = load_spec("tap_withdrawal")
        spec.stimuli[0].site = site
        result = run_circuit(spec, on="brian2", target="numpy")
        window = result.spike_counts(0.1, 0.35)
        counts = {n: window[n] for n in ("AVA", "AVB", "REV", "FWD")}
        rows.append({"touch": site, **counts})
        html.figure(
            plots.raster(result, title=f"tap_withdrawal, {site} touch at 100–300 ms"), f"{site} touch"
        )
        if site == "anterior":
            html.figure(
                plots.tau_eff(result, ["AVA", "AVB", "AVD"]), "τ_eff = C/(g_L + Σg) shortens under input"
            )
    html.table(rows)
    say(
        "tap_withdrawal (Brian2): anterior touch AVA {AVA}/AVB {AVB} spikes, ".format(**rows[0])
        + "posterior AVB {AVB}/AVA {AVA}".format(**rows[1])
    )
    step("tap_withdrawal")

    # 3. whole_worm: Brian2, compile, Lava, emulator, compare -----------------------------------------------------
    html.heading("3. whole_worm: Brian2, compiled for Loihi 2, run in Lava")
    network = build_circuit("whole_worm", duration=lava_duration)
    brian = run_circuit(network, on="brian2")
    step("whole_worm brian2")
    compiled = compile_circuit(network, target="loihi2")
    rep = compiled.report.to_dict()
    html.text(
        "Resources per core and an energy ESTIMATE from Loihi 1's published per-event figures (Davies et al. 2018); "
        "Loihi 2 publishes none, so its profile uses the Loihi 1 values as stand-ins."
    )
    html.preformatted(compiled.report.to_table())
    html.heading("Quantization error per parameter (relative)", 3)
    html.table(
        [
            {"parameter": k, "n": e.n, "max": e.max, "rms": e.rms}
            for k, e in compiled.quantization.errors.items()
        ]
    )
    html.heading("Approximations applied while lowering", 3)
    html.table(
        [
            {"feature": a.feature, "elements": len(a.elements), "note": a.note}
            for a in compiled.lowered.approximations
        ]
        or [{"feature": "none", "elements": 0, "note": "every feature lowered natively"}]
    )
    from wormchip.mappers.report import plot_core_map

    html.figure(
        plot_core_map(
            compiled.partition, compiled.placement, compiled.profile, compiled.graph, compiled.rates
        ),
        "cores on the chip mesh",
    )
    say(
        f"compile whole_worm → loihi2: {rep.get('cores')} core(s), {rep.get('synapses')} synapses, "
        f"{rep.get('energy_per_step_pj', float('nan')):.3g} pJ/step (estimate)"
    )
    step("compile")

    lava = run_circuit(network, on="lava")
    emulator = run_circuit(network, on="emulator")
    same = all(np.array_equal(lava.spike_times[n], emulator.spike_times[n]) for n in lava.neuron_names)
    say(
        f"Lava vs emulator: {'identical' if same else 'DIFFERENT'} spikes "
        f"({sum(lava.spike_counts().values())}); Lava {lava.metadata.get('wall_time_s', 0):.1f} s, "
        f"emulator {emulator.metadata.get('wall_time_s', 0):.3f} s"
    )
    summary.figures["lava_equals_emulator"] = float(same)
    step("lava + emulator")

    comparison = compare(brian, lava, labels=("brian2", "lava"))
    figs = comparison.figures()
    html.figure(figs["raster"], "Brian2 (float) vs Lava (fixed point) spike rasters")
    html.figure(figs["rate_scatter"], "per-neuron firing rates")
    cs = comparison.summary
    html.table(
        [
            {
                "run": label,
                "spikes": cs["total_spikes"][label],
                "fraction within ±1 step": cs["fraction_within_1step"][label],
                "fraction within ±5 ms": cs["fraction_within_window"][label],
                "count correlation": cs["count_correlation"],
            }
            for label in ("brian2", "lava")
        ]
    )
    r = comparison.summary.get("count_correlation", float("nan"))
    summary.figures["brian2_lava_count_correlation"] = float(r)
    within = cs["fraction_within_1step"]["lava"]
    say(
        f"Brian2 vs Lava on whole_worm: spike-count correlation {r:.3f}, {within:.1%} of Lava spikes within ±1 step"
    )
    step("compare")

    # 4. Biology: the atlas -------------------------------------------------------------------------------------
    from wormchip.analysis.atlas import atlas_compare, plot_null, plot_scatter

    atlas = atlas_compare("whole_worm", shuffles=shuffles)
    a = atlas.to_dict()
    html.heading("4. Biology vs model: the signal-propagation atlas (Randi et al. 2023, Nature 623:406)")
    html.text(
        f"Each atlas-stimulated neuron is pulsed in simulation; responses are compared with the measured ΔF/F on "
        f"{a['pairs']} pairs; null: {shuffles} degree-preserving shuffles of the connectome."
    )
    html.table(
        [
            {"statistic": k, "model": a[k], "null p": a["null_p"].get(k)}
            for k in ("sign_agreement", "spearman_r", "auc")
        ]
    )
    html.figure(plot_null(atlas), "null distributions (grey) and the real connectome (red)")
    html.figure(plot_scatter(atlas), "simulated response vs measured ΔF/F")
    say(
        f"atlas ({a['pairs']} pairs, {shuffles} shuffles): sign agreement {a['sign_agreement']:.3f}, "
        f"Spearman {a['spearman_r']:.3f}, AUC {a['auc']:.3f} (null p {a['null_p'].get('auc'):.3g})"
    )
    step("atlas")

    html.heading("Timings")
    html.table([{"step": k, "seconds": v} for k, v in summary.timings.items()])
    html.save(summary.report)
    say(f"report: {summary.report}")
    return summary
