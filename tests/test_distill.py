"""HAD distillation losses: Sinkhorn vs POT, per-term behaviour, gradients, adapters and ablation switches."""

from __future__ import annotations

import math

import ot
import pytest
import torch
from torch import nn

from had_snn.distill.config import DistillConfig, load_distill_config
from had_snn.distill.had_loss import HADLoss, teacher_distill_hook
from had_snn.distill.response import response_focal_mse_loss, response_kl_loss, response_soft_focal_loss
from had_snn.distill.spatial import (
    grid_positions,
    ot_alignment_loss,
    resized_mse_loss,
    sinkhorn_log,
    to_tokens,
)
from had_snn.distill.temporal import ConvGRUFold, MeanFold

TEACHER_CH = {"stage1": 6, "stage2": 8, "stage3": 12}
STUDENT_CH = {"stage1": 4, "stage2": 6, "stage3": 8}
T_STEPS, BATCH = 3, 2


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def make_outputs() -> tuple[dict, dict]:
    """Random student (spikes, per step, finer maps) and teacher (float, coarser maps) outputs."""
    student = {
        "features": {
            "stage1": (torch.rand(T_STEPS, BATCH, 4, 16, 16) < 0.3).float().requires_grad_(),
            "stage2": (torch.rand(T_STEPS, BATCH, 6, 8, 8) < 0.3).float().requires_grad_(),
            "stage3": torch.rand(T_STEPS, BATCH, 8, 4, 4, requires_grad=True),
        },
        "heatmap": torch.randn(BATCH, 1, 16, 16, requires_grad=True),
    }
    teacher = {
        "features": {
            "stage1": torch.randn(BATCH, 6, 8, 8, requires_grad=True),
            "stage2": torch.randn(BATCH, 8, 8, 8, requires_grad=True),
            "stage3": torch.randn(BATCH, 12, 2, 2, requires_grad=True),
        },
        "heatmap": torch.randn(BATCH, 1, 16, 16, requires_grad=True),
    }
    return student, teacher


# --- Sinkhorn -----------------------------------------------------------------------------------------------------


def test_batched_sinkhorn_equals_pot_on_same_cost() -> None:
    cost = torch.rand(3, 7, 11, dtype=torch.float64)
    a = torch.softmax(torch.randn(3, 7, dtype=torch.float64), dim=1)
    b = torch.softmax(torch.randn(3, 11, dtype=torch.float64), dim=1)
    plan = sinkhorn_log(cost, epsilon=0.05, n_iters=3000, a=a, b=b)
    for i in range(3):
        ref = ot.sinkhorn(a[i], b[i], cost[i], 0.05, method="sinkhorn_log", numItermax=20000, stopThr=1e-13)
        assert isinstance(ref, torch.Tensor)  # POT ran on the torch backend
        torch.testing.assert_close(plan[i], ref, atol=1e-9, rtol=1e-6)


def test_batched_sinkhorn_iterates_like_pot() -> None:
    # Far from convergence (7 iterations) the plans still agree: same updates in the same order.
    cost = torch.rand(2, 5, 9, dtype=torch.float64)
    plan = sinkhorn_log(cost, epsilon=0.02, n_iters=7)
    uniform_a, uniform_b = torch.full((5,), 0.2, dtype=torch.float64), torch.full((9,), 1 / 9, dtype=torch.float64)
    for i in range(2):
        ref = ot.bregman.sinkhorn_log(uniform_a, uniform_b, cost[i], 0.02, numItermax=7, stopThr=0.0, warn=False)
        torch.testing.assert_close(plan[i], ref, atol=1e-12, rtol=1e-9)
    assert float((plan.sum(dim=1) - 1 / 9).abs().max()) > 1e-4  # not converged yet, so the check has teeth


@pytest.mark.parametrize(("dtype", "epsilon", "path"), [
    (torch.float32, 0.05, torch.float64),  # spread 40 + log(N M): float64 kernels
    (torch.float32, 0.01, torch.float64),  # spread 200
    (torch.float64, 0.05, torch.float64),
    (torch.float32, 0.002, None),  # spread 1000: the logsumexp iteration
])
def test_kernel_domain_sinkhorn_equals_logsumexp_iteration(monkeypatch, dtype, epsilon, path) -> None:
    """The matrix-vector iteration (float64 inside) gives the logsumexp iteration's plan and gradient, at least as
    accurately in the input's type, where its spread bound allows (else it hands over to logsumexp)."""
    from had_snn.distill import spatial

    torch.manual_seed(3)
    cost = (torch.rand(3, 40, 30, dtype=dtype) * 2).requires_grad_()
    a = torch.softmax(torch.randn(3, 40, dtype=dtype), dim=1)
    log_k = -cost.detach() / epsilon
    assert spatial._kernel_dtype(log_k, a.log().unsqueeze(2), torch.full((3, 1, 30), -math.log(30), dtype=dtype)) \
        == path
    weights = torch.linspace(0, 1, 30, dtype=torch.float64)

    def solve(c: torch.Tensor, marg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        plan = sinkhorn_log(c, epsilon, 60, a=marg)
        (grad,) = torch.autograd.grad((plan * weights.to(c.dtype)).sum(), c)
        return plan.detach().double(), grad.double()

    plan, grad = solve(cost, a)
    assert sinkhorn_log(cost, epsilon, 60, a=a).dtype == dtype
    monkeypatch.setattr(spatial, "KERNEL_SPREAD_LIMITS", ())  # logsumexp only
    lse_plan, lse_grad = solve(cost, a)
    true_plan, true_grad = solve(cost.detach().double().requires_grad_(), a.double())  # float64 logsumexp
    for ours, lse, true in ((plan, lse_plan, true_plan), (grad, lse_grad, true_grad)):
        # as close to the float64 answer as the logsumexp iteration in the same type, or closer
        err, lse_err = float((ours - true).abs().max()), float((lse - true).abs().max())
        assert err <= lse_err + 1e-9 * float(true.abs().max()), (err, lse_err)


def test_sinkhorn_plan_marginals_match_at_default_settings() -> None:
    cfg = DistillConfig()
    cost = torch.rand(4, 64, 49)
    plan = sinkhorn_log(cost, cfg.ot_epsilon, cfg.ot_iterations)
    assert plan.shape == (4, 64, 49)
    # The row marginal is exact after the last half-step; the column marginal converges.
    torch.testing.assert_close(plan.sum(dim=2), torch.full((4, 64), 1 / 64), atol=1e-6, rtol=0)
    torch.testing.assert_close(plan.sum(dim=1), torch.full((4, 49), 1 / 49), atol=1e-4, rtol=0)
    assert math.isclose(float(plan.sum()), 4.0, rel_tol=1e-5)


def test_sinkhorn_small_epsilon_recovers_the_exact_assignment() -> None:
    perm = torch.randperm(6)
    cost = torch.ones(1, 6, 6)
    cost[0, torch.arange(6), perm] = 0.0
    plan = sinkhorn_log(cost, epsilon=0.01, n_iters=50)
    exact = torch.as_tensor(ot.emd(torch.full((6,), 1 / 6), torch.full((6,), 1 / 6), cost[0]))
    torch.testing.assert_close(plan[0], exact, atol=1e-6, rtol=0)


def test_grid_positions_are_cell_centres_in_unit_square() -> None:
    pos = grid_positions(2, 4)
    assert pos.shape == (8, 2)
    torch.testing.assert_close(pos[0], torch.tensor([0.125, 0.25]))
    torch.testing.assert_close(pos[-1], torch.tensor([0.875, 0.75]))


# --- spatial alignment ---------------------------------------------------------------------------------------------


def test_ot_loss_near_zero_for_identical_maps_and_positive_otherwise() -> None:
    t = torch.randn(2, 8, 6, 6)
    same, plan = ot_alignment_loss(t.clone(), t, epsilon=0.01, n_iters=100)
    other, _ = ot_alignment_loss(torch.randn(2, 8, 6, 6), t, epsilon=0.01, n_iters=100)
    assert float(same) < 1e-3
    assert float(other) > 0.2  # random 8-d tokens: best matches are still far from parallel
    torch.testing.assert_close(plan.sum(dim=2), torch.full((2, 36), 1 / 36), atol=1e-4, rtol=0)


def test_ot_loss_matches_displaced_content_that_resize_mse_cannot() -> None:
    # The student holds the teacher's tokens at shuffled places: OT without position cost finds them, MSE does not.
    t = torch.randn(1, 8, 4, 4)
    s = t.flatten(2)[:, :, torch.randperm(16)].reshape(1, 8, 4, 4)
    ot_loss, _ = ot_alignment_loss(s, t, epsilon=0.01, n_iters=200, position_cost_weight=0.0)
    assert float(ot_loss) < 1e-3
    assert float(resized_mse_loss(s, t)) > 0.5
    # With a position cost the same displacement is penalised.
    ot_pos, _ = ot_alignment_loss(s, t, epsilon=0.01, n_iters=200, position_cost_weight=5.0)
    assert float(ot_pos) > 0.1


def test_detached_plan_gradient_is_the_entropic_ot_value_gradient() -> None:
    # Envelope theorem (documented in docs/distillation.md): with the plan held fixed, d L_ot / d features equals
    # (1 / w_f) d OT_eps / d features, OT_eps = <P, C> - eps H(P) at the optimum.
    eps, wf, wp = 0.1, 2.0, 0.5
    t = torch.randn(1, 4, 3, 3, dtype=torch.float64)
    s1 = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    loss, _ = ot_alignment_loss(s1, t, epsilon=eps, n_iters=500, feature_cost_weight=wf, position_cost_weight=wp)
    (grad_detached,) = torch.autograd.grad(loss, s1)

    s_tok, s_pos = to_tokens(s1, 16)
    t_tok, t_pos = to_tokens(t, 16)
    cost = wf * (1 - s_tok @ t_tok.transpose(1, 2)) + wp * 0.5 * torch.cdist(s_pos, t_pos).square()
    plan = sinkhorn_log(cost, eps, 500)
    value = (plan * cost).sum() + eps * (plan * (plan.log() - 1)).sum()
    (grad_value,) = torch.autograd.grad(value, s1)
    torch.testing.assert_close(grad_detached, grad_value / wf, atol=1e-8, rtol=1e-5)


def test_ot_loss_pools_large_maps_to_max_grid() -> None:
    _, plan = ot_alignment_loss(torch.randn(1, 4, 32, 20), torch.randn(1, 4, 8, 8), epsilon=0.05, n_iters=10,
                                max_grid=10)
    assert plan.shape == (1, 10 * 10, 8 * 8)


def test_resized_mse_zero_for_identical_and_handles_resolution_mismatch() -> None:
    t = torch.randn(2, 5, 4, 4)
    assert float(resized_mse_loss(t.clone(), t)) == pytest.approx(0.0, abs=1e-7)
    # Same map at twice the resolution (each pixel repeated 2x2, which the antialiased resize averages back).
    up = t.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert 0.0 < float(resized_mse_loss(up, t)) < float(resized_mse_loss(torch.randn(2, 5, 8, 8), t))
    assert float(resized_mse_loss(-t, t)) == pytest.approx(2.0, abs=1e-5)  # 1 - cos(pi)


def test_ot_and_mse_reject_channel_mismatch() -> None:
    with pytest.raises(ValueError, match="equal B and C"):
        ot_alignment_loss(torch.randn(1, 3, 4, 4), torch.randn(1, 4, 4, 4), epsilon=0.1, n_iters=5)
    with pytest.raises(ValueError, match="equal B and C"):
        resized_mse_loss(torch.randn(1, 3, 4, 4), torch.randn(1, 4, 4, 4))


# --- response distillation -----------------------------------------------------------------------------------------


def test_response_kl_matches_hand_computation() -> None:
    t = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    s = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    tau = 2.0
    p_t = torch.softmax(t.flatten() / tau, 0)
    p_s = torch.softmax(s.flatten() / tau, 0)
    expected = tau**2 * float((p_t * (p_t / p_s).log()).sum())
    assert float(response_kl_loss(s, t, tau)) == pytest.approx(expected, rel=1e-5)
    assert float(response_kl_loss(t.clone(), t, tau)) == pytest.approx(0.0, abs=1e-6)


def test_response_losses_resize_student_and_are_positive_for_different_maps() -> None:
    t = torch.randn(2, 1, 16, 16)
    s = torch.randn(2, 1, 8, 8)
    assert float(response_kl_loss(s, t, 1.0)) > 0.1
    assert float(response_focal_mse_loss(s, t, alpha=4.0, gamma=2.0)) > 0.0
    assert float(response_focal_mse_loss(t.clone(), t, alpha=4.0, gamma=2.0)) == 0.0


def test_focal_mse_weights_errors_at_the_target_more() -> None:
    t = torch.full((1, 1, 1, 2), -4.0)
    t[..., 0] = 4.0  # pixel 0 is target (p_t ~ 0.98), pixel 1 background
    s_miss_target = t.clone()
    s_miss_target[..., 0] = 3.0
    s_miss_background = t.clone()
    s_miss_background[..., 1] = -3.0
    # Push both pixels by the same probability error.
    d = float(torch.sigmoid(torch.tensor(4.0)) - torch.sigmoid(torch.tensor(3.0)))
    s_miss_background[..., 1] = float(torch.logit(torch.sigmoid(torch.tensor(-4.0)) + d))
    hit_target = float(response_focal_mse_loss(s_miss_target, t, alpha=4.0, gamma=2.0))
    hit_background = float(response_focal_mse_loss(s_miss_background, t, alpha=4.0, gamma=2.0))
    assert hit_target > 4.0 * hit_background


# --- temporal alignment --------------------------------------------------------------------------------------------


def test_convgru_fold_starts_as_mean_and_learns_order() -> None:
    x = torch.rand(4, 2, 3, 5, 5)
    fold = ConvGRUFold(3, kernel_size=3)
    torch.testing.assert_close(fold(x), MeanFold()(x))
    nn.init.normal_(fold.out.weight)
    out = fold(x)
    assert out.shape == (2, 3, 5, 5)
    assert not torch.allclose(out, fold(x.flip(0)), atol=1e-4)  # the recurrent path sees step order
    torch.testing.assert_close(MeanFold()(x), MeanFold()(x.flip(0)))


def test_fold_rejects_non_temporal_input() -> None:
    with pytest.raises(ValueError, match=r"\(T, B, C, H, W\)"):
        ConvGRUFold(3)(torch.rand(2, 3, 5, 5))


# --- HADLoss -------------------------------------------------------------------------------------------------------


def _identity_projections(loss: HADLoss) -> None:
    for proj in loss.projections.values():
        with torch.no_grad():
            proj.weight.copy_(torch.eye(proj.out_channels).reshape(proj.weight.shape))
            proj.bias.zero_()


def test_had_loss_near_zero_for_aligned_inputs_and_positive_otherwise() -> None:
    cfg = DistillConfig(ot_epsilon=0.01, ot_iterations=100)
    channels = {"stage1": 6, "stage2": 8}
    cfg.stages, cfg.stage_weights = ["stage1", "stage2"], [1.0, 0.5]
    loss_fn = HADLoss(cfg, channels, channels)
    _identity_projections(loss_fn)
    teacher = {
        "features": {"stage1": torch.randn(2, 6, 6, 6), "stage2": torch.randn(2, 8, 3, 3)},
        "heatmap": torch.randn(2, 1, 16, 16),
    }
    student = {
        "features": {k: v.unsqueeze(0).expand(4, -1, -1, -1, -1) for k, v in teacher["features"].items()},
        "heatmap": teacher["heatmap"].clone(),
    }
    total, terms = loss_fn(student, teacher)
    assert set(terms) == {"ot/stage1", "ot/stage2", "response_kl", "distill"}
    assert all(v < 1e-3 for v in terms.values()), terms
    student["features"] = {k: torch.rand_like(v) for k, v in student["features"].items()}
    student["heatmap"] = torch.randn(2, 1, 16, 16)
    total, terms = loss_fn(student, teacher)
    assert all(v > 0.05 for v in terms.values()), terms
    expected = terms["ot/stage1"] + 0.5 * terms["ot/stage2"] + terms["response_kl"]
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)
    assert terms["distill"] == pytest.approx(float(total.detach()))


@pytest.mark.parametrize("differentiate_plan", [False, True])
def test_gradients_reach_student_and_adapters_but_not_teacher(differentiate_plan: bool) -> None:
    cfg = DistillConfig(ot_differentiate_plan=differentiate_plan)
    loss_fn = HADLoss(cfg, TEACHER_CH, STUDENT_CH)
    student, teacher = make_outputs()
    total, _ = loss_fn(student, teacher)
    total.backward()
    for stage, x in student["features"].items():
        assert x.grad is not None and float(x.grad.abs().sum()) > 0, stage
    assert float(student["heatmap"].grad.abs().sum()) > 0
    for x in [*teacher["features"].values(), teacher["heatmap"]]:
        assert x.grad is None
    for name, p in loss_fn.named_parameters():
        assert p.grad is not None, name
    # Zero-initialised residual output: the GRU output layer gets gradient from the first step.
    assert float(loss_fn.folds["stage1"].out.weight.grad.abs().sum()) > 0


def test_with_real_models_adapters_are_separate_and_only_student_learns() -> None:
    from had_snn.models.student import SpikingStudent, StudentConfig
    from had_snn.models.teacher import Teacher, TeacherConfig

    s_cfg = StudentConfig(widths=(4, 6, 8), head_channels=4, search_px=32, template_px=16)
    t_cfg = TeacherConfig(widths=(6, 8, 12), stem_channels=4, convs_per_stage=1, head_channels=4, search_px=32,
                          template_px=16)
    student, teacher = SpikingStudent(s_cfg), Teacher(t_cfg)
    batch = {
        "template_spikes": (torch.rand(T_STEPS, BATCH, 2, 16, 16) < 0.3).float(),
        "search_spikes": (torch.rand(T_STEPS, BATCH, 2, 32, 32) < 0.3).float(),
        "template_rgb": torch.rand(BATCH, 3, 16, 16), "search_rgb": torch.rand(BATCH, 3, 32, 32),
        "template_voxel": torch.randn(BATCH, 5, 16, 16), "search_voxel": torch.randn(BATCH, 5, 32, 32),
    }
    stages = ("stage1", "stage2", "stage3")
    teacher_ch, student_ch = (dict(zip(stages, w, strict=True)) for w in (t_cfg.widths, s_cfg.widths))
    loss_fn = HADLoss(DistillConfig(), teacher_ch, student_ch)
    extra_loss = teacher_distill_hook(loss_fn, teacher)
    total, terms = extra_loss(student(batch), batch)
    total.backward()
    assert set(terms) == {"ot/stage1", "ot/stage2", "ot/stage3", "response_kl", "distill"}
    assert not {id(p) for p in student.parameters()} & {id(p) for p in loss_fn.parameters()}
    assert all(k.split(".")[0] in ("folds", "projections") for k in loss_fn.state_dict())
    assert not any(isinstance(m, ConvGRUFold) for m in student.modules())
    assert float(student.backbone[0].weight.grad.abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert not teacher.training


@pytest.mark.parametrize(
    ("overrides", "expected_terms", "has_gru"),
    [
        ({}, {"ot/stage1", "ot/stage2", "ot/stage3", "response_kl"}, True),
        ({"temporal": False}, {"ot/stage1", "ot/stage2", "ot/stage3", "response_kl"}, False),
        ({"spatial": False}, {"mse/stage1", "mse/stage2", "mse/stage3", "response_kl"}, True),
        ({"response": False}, {"ot/stage1", "ot/stage2", "ot/stage3"}, True),
        ({"stages": ["stage3"], "stage_weights": [1.0]}, {"ot/stage3", "response_kl"}, True),
        ({"response_loss": "focal_mse"}, {"ot/stage1", "ot/stage2", "ot/stage3", "response_focal_mse"}, True),
        ({"mode": "vanilla_kd", "response_loss": "focal_mse"},
         {"mse/stage1", "mse/stage2", "mse/stage3", "response_kl"}, False),
        ({"mode": "none"}, set(), False),
    ],
)
def test_ablation_switches_select_terms(overrides: dict, expected_terms: set, has_gru: bool) -> None:
    cfg = DistillConfig.from_dict(overrides)
    loss_fn = HADLoss(cfg, TEACHER_CH, STUDENT_CH)
    student, teacher = make_outputs()
    total, terms = loss_fn(student, teacher)
    total = total.detach()
    assert set(terms) == expected_terms | {"distill"}
    assert any(isinstance(m, ConvGRUFold) for m in loss_fn.modules()) == has_gru
    if cfg.mode == "none":
        assert float(total) == 0.0 and not list(loss_fn.parameters())
    else:
        assert float(total) > 0


def test_missing_output_key_or_stage_is_a_clear_error() -> None:
    loss_fn = HADLoss(DistillConfig(), TEACHER_CH, STUDENT_CH)
    student, teacher = make_outputs()
    del teacher["features"]["stage2"]
    with pytest.raises(ValueError, match="teacher features.*'stage2'"):
        loss_fn(student, teacher)
    student, teacher = make_outputs()
    del student["heatmap"]
    with pytest.raises(ValueError, match="student output.*'heatmap'"):
        loss_fn(student, teacher)
    with pytest.raises(ValueError, match="student_channels has no stage 'stage3'"):
        HADLoss(DistillConfig(), TEACHER_CH, {"stage1": 4, "stage2": 6})
    student, teacher = make_outputs()
    student["features"]["stage1"] = student["features"]["stage1"].mean(0)
    with pytest.raises(ValueError, match=r"student features\['stage1'\].*\(T, B, C, H, W\)"):
        loss_fn(student, teacher)


# --- config --------------------------------------------------------------------------------------------------------


def test_config_from_yaml_section(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: {width: 8}\ndistill:\n  stages: [stage2, stage3]\n  stage_weights: [0.5, 1]\n"
                    "  ot_epsilon: 0.1\n  spatial: false\n")
    cfg = load_distill_config(path)
    assert cfg.stages == ["stage2", "stage3"] and cfg.stage_weights == [0.5, 1.0]
    assert cfg.ot_epsilon == 0.1 and not cfg.use_ot and cfg.use_gru
    assert DistillConfig.from_dict(cfg.to_dict()) == cfg
    (tmp_path / "empty.yaml").write_text("model: {}\n")
    assert load_distill_config(tmp_path / "empty.yaml") == DistillConfig()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("distill: {ot_eps: 0.1}", r"unknown key\(s\) \['ot_eps'\]"),
        ("distill: {stages: [stage1], stage_weights: [1, 2]}", "stage_weights: expected one weight per stage"),
        ("distill: {mode: distil}", "distill.mode: expected one of"),
        ("distill: {ot_epsilon: 0}", "ot_epsilon: expected > 0"),
        ("distill: {gru_kernel_size: 2}", "gru_kernel_size: expected an odd size"),
        ("distill: [1, 2]", "'distill' must be a mapping"),
        ("distill: {temporal: 'no'}", "distill.temporal: expected true or false, got 'no'"),
        ("distill: {ot_iterations: 2.5}", "distill.ot_iterations: expected an integer"),
        ("distill: {stages: stage1}", "distill.stages: expected a list of strings"),
        ("distill: {stage_weights: [1, x, 1]}", r"distill.stage_weights\[1\]: expected a number, got 'x' \(a string\)"),
        ("distill: {stage_weights: 1.0}", "distill.stage_weights: expected a list of numbers"),
        ("distill: {temperature: .nan}", "distill.temperature: expected a finite number, got nan"),
        ("distill: {feature_weight: true}", "distill.feature_weight: expected a number, got True"),
        ("distill: {mode: hdetrak}", r"bad.yaml: distill.mode: expected one of .*'hdetrack', 'had_authors'"),
        ("distill: {balance: runing}", r'bad.yaml: distill.balance: expected "none" or "running", got \'runing\''),
        ("distill: {balance_momentum: 1}", r"distill.balance_momentum: expected a number in \[0, 1\), got 1"),
        ("distill: {warmup_steps: -3}", "distill.warmup_steps: expected an integer >= 0, got -3"),
        ("distill: {warmup_steps: 1.5}", "distill.warmup_steps: expected an integer, got 1.5"),
        ("distill: {teacher_norm: batch}", r'distill.teacher_norm: expected "none" or "channel", got \'batch\''),
        ("distill: {adapter_lr_scale: -1}", "distill.adapter_lr_scale: expected > 0, got -1"),
        ("distill: {diagnostics_every: -2}", "distill.diagnostics_every: expected an integer >= 0, got -2"),
        ("distill: {hdetrack_response_weight: -1}", "distill.hdetrack_response_weight: expected >= 0"),
        ("distill: {authors_ot_weight: -3}", "distill.authors_ot_weight: expected >= 0"),
        ("distill: {authors_train_gru: 1}", "distill.authors_train_gru: expected true or false, got 1"),
        ("distill: {authors_ot_epsilon: 0}", "distill.authors_ot_epsilon: expected > 0, got 0"),
        ("distill: {authors_ot_iterations: 0}", "distill.authors_ot_iterations: expected >= 1, got 0"),
        ("distill: {authors_ot_cost: pixel}", r'distill.authors_ot_cost: expected "released" or "position"'),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=match):
        load_distill_config(path)


def test_new_fields_have_the_agreed_defaults() -> None:
    cfg = DistillConfig()
    assert (cfg.balance, cfg.balance_momentum, cfg.warmup_steps, cfg.teacher_norm) == ("none", 0.99, 0, "none")
    assert (cfg.adapter_lr_scale, cfg.diagnostics_every) == (1.0, 0)
    assert (cfg.hdetrack_feature_weight, cfg.hdetrack_similarity_weight, cfg.hdetrack_response_weight) == (1, 10, 1)
    assert (cfg.authors_ot_weight, cfg.authors_ta_weight, cfg.authors_train_gru) == (3.0, 10.0, False)
    assert (cfg.authors_ot_epsilon, cfg.authors_ot_iterations, cfg.authors_ot_cost) == (0.01, 100, "released")
    for mode in ("hdetrack", "had_authors"):
        kd = DistillConfig(mode=mode, temporal=True, spatial=True)
        assert not kd.use_gru and not kd.use_ot and kd.active_stages  # the HAD switches do not apply


def test_soft_focal_response_is_zero_at_agreement_and_pulls_towards_the_teacher() -> None:
    teacher = torch.randn(2, 1, 8, 8) * 3
    assert float(response_soft_focal_loss(teacher, teacher, gamma=2.0)) == 0.0
    student = torch.randn(2, 1, 4, 4, requires_grad=True)  # coarser: resized to the teacher's grid
    loss = response_soft_focal_loss(student, teacher, gamma=2.0)
    assert loss > 0
    loss.backward()
    with torch.no_grad():
        assert response_soft_focal_loss(student - 5.0 * student.grad / student.grad.norm(), teacher, 2.0) < loss
    # gamma = 0 is plain BCE against the soft target, whose minimum is the target's entropy, not 0.
    assert float(response_soft_focal_loss(teacher, teacher, gamma=0.0)) > 0


def test_missing_config_file_is_file_not_found(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_distill_config(tmp_path / "nope.yaml")
