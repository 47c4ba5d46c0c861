"""Distillation term combiner (weights, running balance, warm-up, resume), OT plan diagnostics, teacher_norm."""

from __future__ import annotations

import math

import pytest
import torch

from had_snn.distill.balance import TermCombiner
from had_snn.distill.config import DistillConfig
from had_snn.distill.had_loss import HADLoss
from had_snn.distill.spatial import plan_distance, plan_entropy, sinkhorn_log, standardize_channels

TEACHER_CH = {"stage1": 6, "stage2": 8}
STUDENT_CH = {"stage1": 4, "stage2": 6}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _cfg(**kw) -> DistillConfig:
    return DistillConfig(**kw)


def _outputs(batch: int = 2, steps: int = 3) -> tuple[dict, dict]:
    student = {"features": {"stage1": torch.rand(steps, batch, 4, 8, 8, requires_grad=True),
                            "stage2": torch.rand(steps, batch, 6, 4, 4, requires_grad=True)},
               "heatmap": torch.randn(batch, 1, 8, 8, requires_grad=True)}
    teacher = {"features": {"stage1": torch.randn(batch, 6, 8, 8), "stage2": torch.randn(batch, 8, 4, 4)},
               "heatmap": torch.randn(batch, 1, 8, 8)}
    return student, teacher


# --- TermCombiner ----------------------------------------------------------------------------------------------------


def test_total_is_the_weighted_sum_without_balance_or_warmup() -> None:
    comb = TermCombiner(_cfg())
    a, b = torch.tensor(0.7, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    total, logs = comb({"mse/stage2": (2.0, a * 1.0), "response_kl": (0.5, b * 1.0)})
    torch.testing.assert_close(total, torch.tensor(2.0 * 0.7 + 0.5 * 3.0))
    assert logs == pytest.approx({"mse/stage2": 0.7, "response_kl": 3.0, "distill": 2.9})
    total.backward()
    assert float(a.grad) == pytest.approx(2.0) and float(b.grad) == pytest.approx(0.5)
    assert set(comb.last_terms) == {"mse/stage2", "response_kl"}
    assert float(comb.last_terms["mse/stage2"].detach()) == pytest.approx(1.4)
    assert comb.last_terms["response_kl"].requires_grad
    empty, logs = comb({})
    assert float(empty) == 0.0 and logs == {"distill": 0.0}


def test_running_balance_makes_each_term_contribute_about_its_weight() -> None:
    comb = TermCombiner(_cfg(balance="running", balance_momentum=0.8))
    weights, scales = {"big": 1.0, "small": 3.0}, {"big": 500.0, "small": 0.002}
    for _ in range(30):
        terms = {k: (weights[k], scales[k] * (1 + 0.1 * torch.randn(()).abs())) for k in weights}
        total, logs = comb(terms)
    for k in weights:
        assert float(comb.last_terms[k]) == pytest.approx(weights[k], rel=0.2), k
        assert logs[k] == pytest.approx(scales[k], rel=0.2)  # the logs keep the unweighted, unbalanced terms
    assert float(total) == pytest.approx(4.0, rel=0.2)
    # the running magnitude is detached: the gradient of a balanced term is w / m, not zero
    x = torch.tensor(500.0, requires_grad=True)
    comb({"big": (1.0, x * 1.0), "small": (3.0, torch.tensor(0.002))})[0].backward()
    m = float(comb.running_magnitude("big"))
    assert float(x.grad) == pytest.approx(1.0 / m, rel=1e-5)


def test_running_magnitude_starts_at_the_first_value_and_follows_the_ema() -> None:
    comb = TermCombiner(_cfg(balance="running", balance_momentum=0.75))
    comb({"t": (1.0, torch.tensor(4.0))})
    assert float(comb.running_magnitude("t")) == pytest.approx(4.0)
    comb({"t": (1.0, torch.tensor(-8.0))})
    assert float(comb.running_magnitude("t")) == pytest.approx(0.75 * 4.0 + 0.25 * 8.0)
    comb.eval()  # eval mode reads but does not update
    total, _ = comb({"t": (2.0, torch.tensor(10.0))})
    assert float(comb.running_magnitude("t")) == pytest.approx(5.0) and float(total) == pytest.approx(4.0)


def test_warmup_ramps_the_total_linearly_over_training_steps() -> None:
    comb = TermCombiner(_cfg(warmup_steps=4))
    totals = [float(comb({"t": (2.0, torch.tensor(1.5))})[0]) for _ in range(6)]
    assert totals == pytest.approx([0.0, 0.75, 1.5, 2.25, 3.0, 3.0])
    comb2 = TermCombiner(_cfg(warmup_steps=4))
    comb2.eval()
    comb2({"t": (1.0, torch.tensor(1.0))})
    comb2({"t": (1.0, torch.tensor(1.0))})
    assert int(comb2.steps) == 0 and comb2.ramp() == 0.0  # eval calls do not count
    comb2.train()
    comb2({"t": (1.0, torch.tensor(1.0))})
    assert comb2.ramp() == pytest.approx(0.25)


def test_balance_and_warmup_state_is_restored_on_resume() -> None:
    cfg = _cfg(balance="running", balance_momentum=0.9, warmup_steps=10)
    values = [{"ot/stage1": (1.0, torch.tensor(0.1 * (i + 1))), "response_kl": (2.0, torch.tensor(5.0 / (i + 1)))}
              for i in range(8)]
    full = TermCombiner(cfg)
    expected = [float(full(v)[0]) for v in values]
    first = TermCombiner(cfg)
    for v in values[:4]:
        first(v)
    state = first.state_dict()
    assert set(state) == {"steps", "running_ot/stage1", "running_response_kl"}
    resumed = TermCombiner(cfg)
    resumed.load_state_dict(state)
    got = [float(resumed(v)[0]) for v in values[4:]]
    assert got == pytest.approx(expected[4:], rel=1e-6)
    assert int(resumed.steps) == 8


def test_default_combiner_adds_no_state_and_old_states_load() -> None:
    """A default loss module's state is what it was before the combiner: old checkpoints load."""
    assert TermCombiner(_cfg()).state_dict() == {}
    two = {"stages": ["stage1", "stage2"], "stage_weights": [1.0, 1.0]}
    old = HADLoss(DistillConfig(**two), TEACHER_CH, STUDENT_CH).state_dict()
    assert not any(k.startswith("combiner.") for k in old)
    cfg = DistillConfig(**two, warmup_steps=3)
    loss = HADLoss(cfg, TEACHER_CH, STUDENT_CH)
    loss.load_state_dict(old)  # no combiner.steps in an old checkpoint: the counter starts at 0
    assert int(loss.combiner.steps) == 0 and "combiner.steps" in loss.state_dict()


def test_log_extra_appears_once_in_the_logs_and_not_in_the_total() -> None:
    comb = TermCombiner(_cfg())
    comb.log_extra("ot_entropy/stage2", 0.5)
    total, logs = comb({"t": (1.0, torch.tensor(2.0))})
    assert float(total) == 2.0 and logs["ot_entropy/stage2"] == 0.5 and logs["distill"] == 2.0
    assert "ot_entropy/stage2" not in comb({"t": (1.0, torch.tensor(2.0))})[1]


def test_combiner_refuses_bad_settings_and_non_scalar_terms() -> None:
    bad = DistillConfig()
    bad.balance = "ema"
    with pytest.raises(ValueError, match="distill.balance"):
        TermCombiner(bad)
    bad = DistillConfig()
    bad.balance_momentum = 1.0
    with pytest.raises(ValueError, match="distill.balance_momentum"):
        TermCombiner(bad)
    with pytest.raises(ValueError, match="term 'x' must be a scalar"):
        TermCombiner(_cfg())({"x": (1.0, torch.ones(3))})


# --- OT plan diagnostics -------------------------------------------------------------------------------------------


def test_plan_entropy_is_one_for_a_uniform_plan_and_zero_for_a_permutation() -> None:
    n = 9
    uniform = torch.full((2, n, n), 1.0 / (n * n))
    assert plan_entropy(uniform) == pytest.approx(1.0)
    perm = torch.zeros(1, n, n)
    perm[0, torch.arange(n), torch.randperm(n)] = 1.0 / n
    assert plan_entropy(perm) == pytest.approx(0.0, abs=1e-9)
    # rectangular: uniform is 1, a deterministic 2-to-1 matching (N = 2M) is 0
    m = 4
    uniform_rect = torch.full((1, 2 * m, m), 1.0 / (2 * m * m))
    assert plan_entropy(uniform_rect) == pytest.approx(1.0)
    two_to_one = torch.zeros(1, 2 * m, m)
    two_to_one[0, torch.arange(2 * m), torch.arange(2 * m) // 2] = 1.0 / (2 * m)
    assert plan_entropy(two_to_one) == pytest.approx(0.0, abs=1e-9)
    # Sinkhorn plans: a tiny epsilon on a diagonal-favouring cost is sharp, a huge one is near uniform
    cost = 1.0 - torch.eye(n).unsqueeze(0)
    assert plan_entropy(sinkhorn_log(cost, 1e-3, 50)) < 0.01
    assert plan_entropy(sinkhorn_log(cost, 1e3, 50)) > 0.99


def test_plan_distance_counts_teacher_grid_cells() -> None:
    grid = (3, 4)
    n = grid[0] * grid[1]
    identity = torch.eye(n).unsqueeze(0) / n
    assert plan_distance(identity, grid, grid) == pytest.approx(0.0, abs=1e-6)
    shifted = torch.zeros(1, n, n)  # each token matched to its right-hand neighbour (last column: to itself)
    for i in range(n):
        j = i + 1 if (i % grid[1]) < grid[1] - 1 else i
        shifted[0, i, j] = 1.0 / n
    expected = (grid[0] * (grid[1] - 1)) / n  # one cell for the moved tokens, zero for the last column
    assert plan_distance(shifted, grid, grid) == pytest.approx(expected, rel=1e-5)
    # a finer student grid on the same extent: a 2x finer grid's matched centres are half a cell off on each axis
    fine = torch.zeros(1, 4, 1)
    fine[0, :, 0] = 0.25
    assert plan_distance(fine, (2, 2), (1, 1)) == pytest.approx(math.sqrt(0.25**2 * 2), rel=1e-5)
    with pytest.raises(ValueError, match="does not match grids"):
        plan_distance(identity, (2, 2), grid)


def test_had_loss_logs_ot_diagnostics_only_on_diagnostic_steps() -> None:
    loss_fn = HADLoss(DistillConfig(stages=["stage1", "stage2"], stage_weights=[1.0, 1.0]), TEACHER_CH, STUDENT_CH)
    student, teacher = _outputs()
    _, logs = loss_fn(student, teacher)
    assert not any(k.startswith("ot_") for k in logs)
    loss_fn.combiner.diagnose = True
    total, logs = loss_fn(student, teacher)
    for stage in ("stage1", "stage2"):
        assert 0.0 <= logs[f"ot_entropy/{stage}"] <= 1.0
        assert logs[f"ot_distance/{stage}"] >= 0.0
    assert logs["distill"] == pytest.approx(float(total.detach()))
    assert logs["distill"] == pytest.approx(logs["ot/stage1"] + logs["ot/stage2"] + logs["response_kl"], rel=1e-5)


# --- teacher_norm ----------------------------------------------------------------------------------------------------


def test_standardize_channels_gives_zero_mean_unit_std_per_channel() -> None:
    x = torch.randn(2, 3, 5, 4, requires_grad=True) * torch.tensor([1.0, 10.0, 0.1]).view(1, 3, 1, 1) + 7.0
    y = standardize_channels(x)
    assert not y.requires_grad
    torch.testing.assert_close(y.mean(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(dim=(2, 3), unbiased=False), torch.ones(2, 3), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match=r"expected \(B, C, H, W\)"):
        standardize_channels(torch.ones(3, 4, 5))


@pytest.mark.parametrize("spatial", [True, False])
def test_teacher_norm_channel_ignores_per_channel_scale_and_offset(spatial: bool) -> None:
    student, teacher = _outputs()
    scale = torch.rand(1, 8, 1, 1) * 20 + 0.05
    offset = torch.randn(1, 8, 1, 1) * 5
    shifted = {**teacher, "features": {**teacher["features"], "stage2": teacher["features"]["stage2"] * scale + offset}}
    results = {}
    for norm in ("none", "channel"):
        cfg = DistillConfig(stages=["stage2"], stage_weights=[1.0], spatial=spatial, response=False,
                            teacher_norm=norm)
        torch.manual_seed(1)
        loss_fn = HADLoss(cfg, TEACHER_CH, STUDENT_CH)
        with torch.no_grad():
            results[norm] = (float(loss_fn(student, teacher)[0]), float(loss_fn(student, shifted)[0]))
    plain, normed = results["none"], results["channel"]
    assert normed[0] == pytest.approx(normed[1], rel=1e-4)
    assert abs(plain[0] - plain[1]) > 1e-3


# --- gradient diagnostics -------------------------------------------------------------------------------------------


def test_gradient_ratios_equal_a_manual_computation_on_a_tiny_model() -> None:
    from had_snn.distill.diagnostics import gradient_diagnostics

    student = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    adapter = torch.nn.Linear(2, 2)  # a distillation adapter: not part of the student's gradient norm
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    out = student(x)
    track = (out - y).square().mean()
    terms = {"feat": 3.0 * (adapter(out) - y.flip(1)).square().mean(), "resp": 0.5 * out.abs().mean()}
    logs = gradient_diagnostics(track, terms, list(student.parameters()))
    assert adapter.weight.grad is None and all(p.grad is None for p in student.parameters())  # nothing accumulated

    def manual(loss: torch.Tensor) -> torch.Tensor:
        student.zero_grad()
        loss.backward(retain_graph=True)
        return torch.cat([p.grad.reshape(-1).clone() for p in student.parameters()])

    g_track = manual(track)
    g = {k: manual(v) for k, v in terms.items()}
    g["distill"] = manual(terms["feat"] + terms["resp"])
    assert logs["diag/grad/track"] == pytest.approx(float(g_track.norm()), rel=1e-5)
    for name, vec in g.items():
        assert logs[f"diag/grad/{name}"] == pytest.approx(float(vec.norm() / g_track.norm()), rel=1e-5), name
        cos = float(torch.nn.functional.cosine_similarity(vec, g_track, dim=0))
        assert logs[f"diag/cos/{name}"] == pytest.approx(cos, rel=1e-4, abs=1e-6), name


def test_gradient_diagnostics_term_that_misses_the_student_and_step_choice() -> None:
    from had_snn.distill.diagnostics import find_combiner, gradient_diagnostics, is_diagnostic_step

    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    logs = gradient_diagnostics((w * 3).sum(), {"const": torch.tensor(2.0)}, [w])
    assert logs == pytest.approx({"diag/grad/track": math.sqrt(18), "diag/grad/const": 0.0, "diag/cos/const": 0.0})
    assert [s for s in range(10) if is_diagnostic_step(s, s % 4, 0)] == [0, 4, 8]
    assert [s for s in range(10) if is_diagnostic_step(s, s % 4, 3)] == [0, 3, 6, 9]
    loss = HADLoss(DistillConfig(stages=["stage1"], stage_weights=[1.0]), TEACHER_CH, STUDENT_CH)
    assert find_combiner([torch.nn.Linear(1, 1), loss]) is loss.combiner
    assert find_combiner([torch.nn.Linear(1, 1)]) is None
