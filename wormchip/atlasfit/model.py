"""A connectome-constrained linear-response model of the atlas experiment, fitted by L-BFGS.

Stimulating neuron j with a constant input u_j, a linear network with leak λ_i, chemical coupling W and gap
junctions G (graph Laplacian L_G = diag(G·1) − G) settles at x = (Λ + L_G − W)⁻¹ u: the steady state of the
linear dynamical system dx/dt = −Λx − L_G x + W x + u, whose window average is what the atlas reports. The
predicted ΔF/F of responder i is read out as y_ij = g_i [(Λ + L_G − W)⁻¹]_ij + b_i. Creamer, Leifer & Pillow
(2024, bioRxiv doi:10.1101/2024.09.22.614271) fit the time-resolved form of this model (a connectome-masked
LDS, stimulus input on the stimulated neuron only) to the same atlas; with one window-averaged number per
pair, the steady state carries all of it.

Free parameters only where the connectome has an edge (`Structure`): chemical edge e (pre → post, contact
strength c_e) has weight θ_c[group(e)] · log(1 + c_e), starting at and shrunk towards the transmitter sign
(ACh +, GABA −, glutamate −, as in `whole_worm`) times `PRIOR_GAIN`; gap pair p has conductance
θ_g[group(p)]² · log(1 + c_p) (never negative), θ_g starting at and shrunk towards √`PRIOR_GAIN` (so a gap
junction the atlas cannot see keeps a prior conductance as a chemical edge keeps its prior weight; shrunk
towards 0, the fit had removed e.g. every ALM/AVM–AVD gap junction, the anterior touch pathway); each neuron
class a leak exp(ℓ) and an input drive u (the stimulus reaches neuron j as u_j; opsin expression differs
between neurons); each neuron a read-out gain g and bias b. `tie="class"` shares θ_c, θ_g among the edges
between the same two neuron classes (left/right and dorso-ventral homologues), `tie="edge"` gives every edge its
own; the all-to-all baseline is the same model with an edge on every ordered pair and no sign prior.

The touch circuit's chemical edges have signs from the literature instead of the transmitter rule, held as
bounds (`TOUCH_SIGNS`): touch receptor neurons excite the command interneurons of the movement their site
evokes and inhibit the others (Chalfie et al. 1985, J. Neurosci. 5:956; Wicks & Rankin 1995, J. Neurosci.
15:2434). The atlas stimulated no ALM or AVM and PLMR in single trials only, so the data cannot set them, and
the transmitter rule (glutamate −) made every touch-cell synapse onto a command interneuron inhibitory.

Loss: trial-count-weighted mean squared error over the training pairs (÷ the target's variance) plus α·(‖θ_c − prior‖² +
‖θ_g − √PRIOR_GAIN‖² + ‖ℓ‖² + ‖u − 1‖²) plus a stability margin α·`STABILITY`·‖A⁻¹‖²_F / n (estimated with `PROBES`
fixed random ±1 columns P as ‖A⁻¹P‖²_F / (n·`PROBES`), an unbiased estimate). Without the margin the
fit settled at the edge of instability (smallest eigenvalue of A 0.004: a posterior ventral-cord mode, VA12, VD12,
VD13, amplified every input 250-fold, and a touch anywhere reached the command interneurons mainly through it);
with it, 0.043 (the full wt fit). The gradient is analytic: with M = A⁻¹ and F = ∂loss/∂M,
∂loss/∂A = −A⁻ᵀ F Mᵀ (one LU factorisation of the 302 × 302 matrix serves all solves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from wormchip import ir

PRIOR_GAIN = 0.05
STABILITY = 1.0
PROBES = 32  # random ±1 probe columns estimating ‖A⁻¹‖²_F (Hutchinson): 2·32 solves instead of a 302³ inverse
ANTERIOR_TOUCH, POSTERIOR_TOUCH = ("ALM", "AVM"), ("PLM", "PVM")
BACKWARD, FORWARD = ("AVA", "AVD", "AVE"), ("AVB", "PVC")
#: Sign of every chemical edge between a touch receptor class and a command interneuron class.
TOUCH_SIGNS = {
    (pre, post): 1 if (pre in ANTERIOR_TOUCH) == (post in BACKWARD) else -1
    for pre in ANTERIOR_TOUCH + POSTERIOR_TOUCH
    for post in BACKWARD + FORWARD
}


@dataclass(frozen=True)
class Structure:
    """Where the model may have parameters: chemical edges pre → post with strength and prior sign, gap
    pairs with strength, and the neuron classes (for tying)."""

    names: tuple[str, ...]
    classes: tuple[str, ...]
    chem_pre: np.ndarray
    chem_post: np.ndarray
    chem_strength: np.ndarray
    chem_sign: np.ndarray
    gap_a: np.ndarray
    gap_b: np.ndarray
    gap_strength: np.ndarray
    chem_fixed: np.ndarray | None = None  # edges whose sign is a bound, not only a prior

    @property
    def n(self) -> int:
        return len(self.names)

    @classmethod
    def from_network(cls, network: ir.Network, classes: Sequence[str]) -> Structure:
        """Edges of a built network (e.g. `whole_worm` or a shuffle of it): chemical projections give pre →
        post, |weight| (relative to the median) and sign; gap-junction projections the pairs."""
        pre, post, w, ga, gb, gw = [], [], [], [], [], []
        for proj in network.projections:
            if proj.synapse == "gap_junction":
                ga.append(proj.pre), gb.append(proj.post), gw.append(proj.weight)
            else:
                pre.append(proj.pre), post.append(proj.post), w.append(proj.weight)
        chem = np.concatenate(w) if w else np.zeros(0)
        gap = np.concatenate(gw) if gw else np.zeros(0)
        return cls(
            tuple(network.names),
            tuple(classes),
            np.concatenate(pre).astype(np.int64) if pre else np.zeros(0, np.int64),
            np.concatenate(post).astype(np.int64) if post else np.zeros(0, np.int64),
            np.abs(chem) / np.median(np.abs(chem)) if len(chem) else chem,
            np.sign(chem),
            np.concatenate(ga).astype(np.int64) if ga else np.zeros(0, np.int64),
            np.concatenate(gb).astype(np.int64) if gb else np.zeros(0, np.int64),
            np.abs(gap) / np.median(np.abs(gap)) if len(gap) else gap,
        )

    def with_touch_signs(self) -> Structure:
        """The same edges with `TOUCH_SIGNS` imposed (and marked fixed) on the touch circuit's chemical edges."""
        signs = [
            TOUCH_SIGNS.get((self.classes[a], self.classes[b]), 0)
            for a, b in zip(self.chem_pre, self.chem_post)
        ]
        fixed = np.array(signs) != 0
        return dataclasses.replace(self, chem_sign=np.where(fixed, signs, self.chem_sign), chem_fixed=fixed)

    @classmethod
    def all_to_all(cls, names: Sequence[str], classes: Sequence[str]) -> Structure:
        """Every ordered pair i ≠ j is a chemical edge of strength 1 with no sign prior; no gap junctions."""
        n = len(names)
        pre, post = np.nonzero(~np.eye(n, dtype=bool))
        empty = np.zeros(0, np.int64)
        return cls(
            tuple(names), tuple(classes), pre, post, np.full(len(pre), np.e - 1.0), np.zeros(len(pre)),
            empty, empty, np.zeros(0),
        )  # fmt: skip

    def groups(self, tie: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Parameter index of every chemical edge, gap pair and neuron under `tie` ("class" or "edge")."""
        cls_id = {c: k for k, c in enumerate(dict.fromkeys(self.classes))}
        neuron = np.array([cls_id[c] for c in self.classes], dtype=np.int64)
        if tie == "edge":
            return np.arange(len(self.chem_pre)), np.arange(len(self.gap_a)), neuron
        if tie != "class":
            raise ValueError(f"tie must be 'class' or 'edge', not {tie!r}")
        k = len(cls_id)
        chem = np.unique(neuron[self.chem_pre] * k + neuron[self.chem_post], return_inverse=True)[1]
        lo = np.minimum(neuron[self.gap_a], neuron[self.gap_b])
        hi = np.maximum(neuron[self.gap_a], neuron[self.gap_b])
        gap = np.unique(lo * k + hi, return_inverse=True)[1]
        return chem.ravel(), gap.ravel(), neuron


@dataclass
class FittedModel:
    """A fitted model: the structure, tying, parameters and the fit's record. `matrix()` = A; `response(S)` =
    the read-out of every neuron for stimulation of each index in S."""

    structure: Structure
    tie: str
    theta_c: np.ndarray
    theta_g: np.ndarray
    leak_log: np.ndarray
    drive: np.ndarray
    gain: np.ndarray
    bias: np.ndarray
    info: dict

    def weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-edge chemical weight, per-pair gap conductance, per-neuron leak (model units)."""
        gc, gg, gn = self.structure.groups(self.tie)
        s = self.structure
        return (
            self.theta_c[gc] * np.log1p(s.chem_strength),
            self.theta_g[gg] ** 2 * np.log1p(s.gap_strength),
            np.exp(self.leak_log[gn]),
        )

    def matrix(self) -> np.ndarray:
        w, g, leak = self.weights()
        return _assemble(self.structure, w, g, leak)

    def response(self, stimulated: np.ndarray) -> np.ndarray:
        """Steady-state x[i, b] for stimulation of `stimulated[b]` (before read-out)."""
        a = self.matrix()
        gn = self.structure.groups(self.tie)[2]
        rhs = np.zeros((a.shape[0], len(stimulated)))
        rhs[stimulated, np.arange(len(stimulated))] = self.drive[gn[stimulated]]
        return np.linalg.solve(a, rhs)

    def predict(self, resp: np.ndarray, stim: np.ndarray) -> np.ndarray:
        """Predicted ΔF/F of pairs responding resp[k] ← stimulated stim[k]."""
        cols, inv = np.unique(stim, return_inverse=True)
        x = self.response(cols)
        return self.gain[resp] * x[resp, inv.ravel()] + self.bias[resp]


def _assemble(s: Structure, w: np.ndarray, g: np.ndarray, leak: np.ndarray) -> np.ndarray:
    """A = Λ + L_G − W for per-edge chemical weights w, gap conductances g, leaks."""
    a = np.diag(leak)
    np.add.at(a, (s.chem_post, s.chem_pre), -w)
    np.add.at(a, (s.gap_a, s.gap_b), -g)
    np.add.at(a, (s.gap_b, s.gap_a), -g)
    np.add.at(a, (s.gap_a, s.gap_a), g)
    np.add.at(a, (s.gap_b, s.gap_b), g)
    return a


def fit(
    structure: Structure,
    resp: np.ndarray,
    stim: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None = None,
    tie: str = "class",
    alpha: float = 1e-3,
    maxiter: int = 300,
    sign_prior: bool = True,
) -> FittedModel:
    """Fit the model to pairs (resp[k] ← stim[k], measured `target[k]`, weight `weight[k]`) by L-BFGS."""
    s = structure
    gc, gg, gn = s.groups(tie)
    kc, kg, kn = int(gc.max(initial=-1)) + 1, int(gg.max(initial=-1)) + 1, int(gn.max()) + 1
    n = s.n
    weight = np.ones(len(target)) if weight is None else np.asarray(weight, dtype=float)
    # Normalised by the target's weighted variance, so the loss starts near 1 (L-BFGS's tolerance is relative
    # to max(|loss|, 1)).
    weight = weight / weight.sum()
    weight = weight / float(weight @ (target - weight @ target) ** 2)
    cols, inv = np.unique(stim, return_inverse=True)
    inv = inv.ravel()
    prior = np.zeros(kc)
    if sign_prior and kc:
        np.add.at(prior, gc, s.chem_sign)
        prior = np.sign(prior) * PRIOR_GAIN
    prior_g = np.full(kg, np.sqrt(PRIOR_GAIN))
    probes = np.random.default_rng(0).choice([-1.0, 1.0], size=(n, PROBES))
    lc, lg = np.log1p(s.chem_strength), np.log1p(s.gap_strength)
    sizes = np.cumsum([0, kc, kg, kn, kn, n, n])
    rhs = np.zeros((n, len(cols)))
    rhs[cols, np.arange(len(cols))] = 1.0

    def unpack(p: np.ndarray) -> list[np.ndarray]:
        return [p[sizes[k] : sizes[k + 1]] for k in range(6)]

    def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
        tc, tg, tl, drive, gain, bias = unpack(p)
        w, g2, leak = tc[gc] * lc, tg[gg] ** 2 * lg, np.exp(tl[gn])
        lu = linalg.lu_factor(_assemble(s, w, g2, leak), check_finite=False)
        x0 = linalg.lu_solve(lu, rhs, check_finite=False)
        u = drive[gn[cols]]
        x = x0 * u
        xk = x[resp, inv]
        err = gain[resp] * xk + bias[resp] - target
        r = 2.0 * weight * err
        dtc, dtg, dtl, dtu = tc - prior, tg - prior_g, tl, drive - 1.0
        loss = float(weight @ err**2) + alpha * float(dtc @ dtc + dtg @ dtg + dtl @ dtl + dtu @ dtu)
        f = np.zeros_like(x)
        np.add.at(f, (resp, inv), r * gain[resp])
        z = linalg.lu_solve(lu, f * u, trans=1, check_finite=False)
        da = -z @ x0.T
        if (
            STABILITY
        ):  # the stability margin ‖A⁻¹P‖²_F / (n·PROBES) ≈ ‖A⁻¹‖²_F / n; ∂/∂A = −2·A⁻ᵀ Y Yᵀ, Y = A⁻¹P
            y = linalg.lu_solve(lu, probes, check_finite=False)
            scale = alpha * STABILITY / (n * PROBES)
            loss += scale * float(np.sum(y**2))
            da -= 2.0 * scale * linalg.lu_solve(lu, y, trans=1, check_finite=False) @ y.T
        grad_w = -da[s.chem_post, s.chem_pre]
        grad_g = -da[s.gap_a, s.gap_b] - da[s.gap_b, s.gap_a] + da[s.gap_a, s.gap_a] + da[s.gap_b, s.gap_b]
        grads = [
            np.bincount(gc, grad_w * lc, kc) + 2 * alpha * dtc,
            np.bincount(gg, grad_g * lg * 2 * tg[gg], kg) + 2 * alpha * dtg,
            np.bincount(gn, np.diag(da) * leak, kn) + 2 * alpha * dtl,
            np.bincount(gn[cols], (f * x0).sum(axis=0), kn) + 2 * alpha * dtu,
            np.bincount(resp, r * xk, n),
            np.bincount(resp, r, n),
        ]
        return loss, np.concatenate(grads)

    start = np.concatenate(
        [
            prior,
            prior_g,
            np.zeros(kn),
            np.ones(kn),
            np.ones(n),
            _mean_by(resp, target, n),
        ]
    )
    bounds = [(None, None)] * len(start)
    if s.chem_fixed is not None and sign_prior:
        for group, sign in zip(gc[s.chem_fixed], s.chem_sign[s.chem_fixed]):
            bounds[group] = (0.0, None) if sign > 0 else (None, 0.0)
    res = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-10, "gtol": 1e-8},
    )
    tc, tg, tl, drive, gain, bias = unpack(res.x)
    info = {
        "loss": float(res.fun),
        "iterations": int(res.nit),
        "alpha": alpha,
        "tie": tie,
        "pairs": len(target),
    }
    return FittedModel(s, tie, tc, tg, tl, drive, gain, bias, info)


def _mean_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of `values` per `index` (0 where none)."""
    count = np.bincount(index, minlength=n)
    return np.bincount(index, values, n) / np.maximum(count, 1)
