"""Run a `RewardPlasticBlock` in Lava 0.10: `LearningDense` + `Loihi3FLearningRule` + the trace process.

Pre spikes come from a RingBuffer into `s_in`, post spikes from another into `s_in_bap` and into the trace
process (`RewardTraces`, running `wormchip.backends.reward_learning.RewardTraceUnit`), whose y1, y2 = max(D, 0)
and y3 = max(−D, 0) go to `s_in_y1`, `s_in_y2`, `s_in_y3`. The run is isolated in a forked worker like `run_lava`.
"""

from __future__ import annotations

import functools

import numpy as np

from wormchip.backends.lava_runner import (
    LavaRunError,
    _describe_failure,
    _preload_lava,
    _stop_runtime,
    run_isolated,
)
from wormchip.mappers.reward_stdp import RewardPlasticBlock


@functools.cache
def reward_trace_classes() -> tuple[type, type]:
    """The trace Process (ports s_in, s_out_y1..y3; `block` and `reward` as process parameters; `shape`: the
    post neurons it serves, the block's rows or one core's; `modulators`: positions in `s_in` of neurons
    whose spikes add the block's `modulator_increment`; Var `extra`: a D increment added at the next step,
    then cleared, set between runs by a closed loop) and its fixed-point model (defined lazily: Lava imports
    only on Python 3.10)."""
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.process.variable import Var
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    from wormchip.backends.reward_learning import RewardTraceUnit

    class RewardTraces(AbstractProcess):
        """Post trace y1 and reward D (y2 its positive, y3 its negative part) of a three-factor block, sent as
        graded values every step."""

        def __init__(
            self,
            *,
            shape: tuple[int],
            block: RewardPlasticBlock,
            reward: np.ndarray,
            modulators: np.ndarray | None = None,
            name: str | None = None,
        ) -> None:
            mods = np.zeros(0, dtype=np.int64) if modulators is None else modulators
            super().__init__(shape=shape, block=block, reward=reward, modulators=mods, name=name)
            self.extra = Var(shape=(1,), init=0)  # a reward increment for the next step (closed loop)
            self.s_in = InPort(shape=shape)
            self.s_out_y1 = OutPort(shape=shape)
            self.s_out_y2 = OutPort(shape=shape)
            self.s_out_y3 = OutPort(shape=shape)

    @implements(proc=RewardTraces, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyRewardTracesModel(PyLoihiProcessModel):
        s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, bool, precision=1)
        s_out_y1: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=7)
        s_out_y2: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=7)
        s_out_y3: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=7)
        extra: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

        def __init__(self, proc_params: dict) -> None:
            super().__init__(proc_params)
            self.unit = RewardTraceUnit(proc_params["block"], proc_params["shape"][0])
            self.reward = proc_params["reward"]
            self.modulators = proc_params["modulators"]
            self.per_spike = proc_params["block"].modulator_increment

        def run_spk(self) -> None:
            post = self.s_in.recv().astype(bool)
            k = self.time_step - 1
            inc = (int(self.reward[k]) if k < len(self.reward) else 0) + int(self.extra[0])
            inc += int(post[self.modulators].sum()) * self.per_spike  # D += 1 per modulator spike
            self.extra[0] = 0
            y1, y2, y3 = self.unit.step(post, inc)
            self.s_out_y1.send(y1.astype(np.int32))
            self.s_out_y2.send(y2.astype(np.int32))
            self.s_out_y3.send(y3.astype(np.int32))

    return RewardTraces, PyRewardTracesModel


def reward_dense(
    block: RewardPlasticBlock, weights: np.ndarray, mask: np.ndarray, weight_exp: int, name: str | None = None
) -> object:
    """A `LearningDense` with `block`'s `Loihi3FLearningRule` holding `weights` and the presence mask `mask`
    (tag_2; the whole block's or one core pair's slice), tag_1 (the eligibility) at 0."""
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    from lava.proc.dense.process import LearningDense
    from lava.utils.weightutils import SignMode as LavaSignMode

    rule = Loihi3FLearningRule(
        dw=block.dw(),
        dt=block.dt(),
        x1_impulse=block.x1_impulse,
        x1_tau=block.x1_tau,
        t_epoch=1,
        rng_seed=block.rng_seed,
    )
    return LearningDense(
        weights=weights,
        tag_2=mask,
        tag_1=np.zeros(mask.shape, dtype=np.int64),
        learning_rule=rule,
        sign_mode=LavaSignMode.EXCITATORY if block.sign > 0 else LavaSignMode.INHIBITORY,
        weight_exp=weight_exp,
        num_weight_bits=8,
        name=name,
    )


def run_reward_block_lava(
    block: RewardPlasticBlock,
    pre: np.ndarray,
    post: np.ndarray,
    reward: np.ndarray,
    sample_every: int,
    timeout_s: float = 300.0,
) -> dict[str, np.ndarray]:
    """`wormchip.backends.reward_learning.run_reward_block` in Lava: `weights` and `tags` (samples × post ×
    pre) read after every `sample_every` steps (the run pauses there)."""
    _preload_lava()
    reward_trace_classes()
    out, _ = run_isolated(_simulate, (block, pre, post, reward, sample_every), timeout_s=timeout_s)
    return out


def _simulate(report, block, pre, post, reward, sample_every) -> dict[str, np.ndarray]:
    """Worker body: build the graph, run it in segments reading weights and tags, always stop the runtime."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.models import PyLearningDenseModelBitApproximate
    from lava.proc.io.source import PySendModelFixed
    from lava.proc.io.source import RingBuffer as Source

    traces_cls, traces_model = reward_trace_classes()
    report("build")
    dense = reward_dense(block, block.weights, block.mask, block.weight_exp)
    pre_src = Source(data=pre.T.astype(np.int32))
    post_src = Source(data=post.T.astype(np.int32))
    traces = traces_cls(shape=(block.shape[0],), block=block, reward=np.asarray(reward, dtype=np.int64))
    pre_src.s_out.connect(dense.s_in)
    post_src.s_out.connect(dense.s_in_bap)
    post_src.s_out.connect(traces.s_in)
    traces.s_out_y1.connect(dense.s_in_y1)
    traces.s_out_y2.connect(dense.s_in_y2)
    traces.s_out_y3.connect(dense.s_in_y3)
    models = {
        dense: PyLearningDenseModelBitApproximate,
        pre_src: PySendModelFixed,
        post_src: PySendModelFixed,
        traces: traces_model,
    }
    weights, tags, failed = [], [], True
    try:
        report("compile")
        dense.create_runtime(run_cfg=Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models))
        report("run")
        for _ in range(len(pre) // sample_every):
            dense.run(condition=RunSteps(num_steps=sample_every))
            weights.append(np.rint(dense.weights.get()).astype(np.int64))
            tags.append(np.rint(dense.tag_1.get()).astype(np.int64))
        failed = False
    except Exception as err:
        raise LavaRunError(_describe_failure(dense, err)) from err
    finally:
        stop_error = _stop_runtime(dense, failed)
    if stop_error:
        raise LavaRunError(f"Lava runtime failed to stop: {stop_error}")
    return {"weights": np.array(weights), "tags": np.array(tags)}
