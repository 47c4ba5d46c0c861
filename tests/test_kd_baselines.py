"""KD baselines HAD must beat: HDETrack-style KD and the authors' released HAD objective (terms, gradients, frozen
token GRUs, Sinkhorn vs POT, training through the loop and resume)."""

from __future__ import annotations

from pathlib import Path

import ot
import pytest
import torch

from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.distill.authors import (
    AuthorsHADLoss,
    marginal_plan_entropy,
    released_response_ot_loss,
    response_ot_loss,
)
from had_snn.distill.config import DistillConfig
from had_snn.distill.hdetrack import HDETrackLoss, map_tokens, similarity_loss
from had_snn.distill.spatial import grid_positions
from had_snn.models.checkpoint import load_checkpoint
from had_snn.train.config import load_config
from had_snn.train.distill_hook import build_distillation, parse_distill_section
from had_snn.train.loop import train

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
TEACHER_CH = {"stage1": 6, "stage2": 8, "stage3": 12}
STUDENT_CH = {"stage1": 4, "stage2": 6, "stage3": 8}
T_STEPS, BATCH = 3, 2
LOSSES = {"hdetrack": HDETrackLoss, "had_authors": AuthorsHADLoss}
HDETRACK_TERMS = {"mse/stage1", "mse/stage2", "mse/stage3", "similarity", "response_focal", "distill"}


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


def build(mode: str, **kw) -> torch.nn.Module:
    return LOSSES[mode](DistillConfig(mode=mode, **kw), TEACHER_CH, STUDENT_CH)


# --- terms, gradients ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(LOSSES))
def test_terms_are_finite_and_gradients_reach_the_student_only(mode: str) -> None:
    student, teacher = make_outputs()
    loss = build(mode)
    total, logs = loss(student, teacher)
    expected = HDETRACK_TERMS | ({"ta", "ot_response"} if mode == "had_authors" else set())
    assert set(logs) == expected
    assert total.dim() == 0 and torch.isfinite(total)
    assert all(torch.isfinite(torch.tensor(v)) and v >= 0 for v in logs.values())
    # The total is the weighted sum of the unweighted terms (the released weights; no balancing by default).
    cfg = loss.config
    weights = {"mse/stage1": 1.0, "mse/stage2": 1.0, "mse/stage3": 1.0, "similarity": cfg.hdetrack_similarity_weight,
               "response_focal": 1.0, "ta": cfg.authors_ta_weight, "ot_response": cfg.authors_ot_weight}
    assert logs["distill"] == pytest.approx(sum(weights[k] * v for k, v in logs.items() if k != "distill"), rel=1e-5)
    assert set(loss.combiner.last_terms) == expected - {"distill"}
    total.backward()
    for stage, x in student["features"].items():
        assert x.grad is not None and x.grad.abs().sum() > 0, stage
    assert student["heatmap"].grad.abs().sum() > 0
    for x in [*teacher["features"].values(), teacher["heatmap"]]:
        assert x.grad is None
    assert all(p.grad is not None for p in loss.projections.parameters())


def test_hdetrack_terms_vanish_when_student_equals_teacher() -> None:
    fmap = torch.randn(BATCH, 8, 6, 6)
    assert similarity_loss(fmap, fmap, max_grid=8) < 1e-5
    assert similarity_loss(torch.randn(BATCH, 5, 6, 6), fmap, max_grid=8) > 0.1
    # Channel counts may differ; the student map is resized to the teacher's grid.
    assert similarity_loss(torch.randn(BATCH, 5, 12, 12), fmap, max_grid=8).isfinite()
    # Feature MSE with an identity projection and response focal MSE: 0 on identical inputs.
    cfg = DistillConfig(mode="hdetrack", stages=["stage3"], stage_weights=[1.0])
    loss = HDETrackLoss(cfg, {"stage3": 8}, {"stage3": 8})
    with torch.no_grad():
        loss.projections["stage3"].weight.copy_(torch.eye(8).view(8, 8, 1, 1))
        loss.projections["stage3"].bias.zero_()
    heat = torch.randn(BATCH, 1, 12, 12)
    student = {"features": {"stage3": fmap.expand(T_STEPS, *fmap.shape)}, "heatmap": heat}
    teacher = {"features": {"stage3": fmap}, "heatmap": heat}
    _, logs = loss(student, teacher)
    assert logs["mse/stage3"] < 1e-10 and logs["similarity"] < 1e-5 and logs["response_focal"] < 1e-10
    assert logs["distill"] < 1e-4


def test_teacher_channel_norm_changes_the_feature_terms() -> None:
    student, teacher = make_outputs()
    plain = build("hdetrack")(student, teacher)[1]
    normed = build("hdetrack", teacher_norm="channel")(student, teacher)[1]
    assert normed["mse/stage3"] != pytest.approx(plain["mse/stage3"])
    # Scaling and shifting a teacher channel changes nothing once the teacher is standardised.
    scaled = {**teacher, "features": {k: 7.0 * v + 3.0 for k, v in teacher["features"].items()}}
    torch.manual_seed(1)
    a = build("hdetrack", teacher_norm="channel")(student, teacher)[1]
    torch.manual_seed(1)
    b = build("hdetrack", teacher_norm="channel")(student, scaled)[1]
    assert a["mse/stage3"] == pytest.approx(b["mse/stage3"], rel=1e-4)
    assert a["similarity"] == pytest.approx(b["similarity"], rel=1e-4)


# --- the authors' L_OT ----------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Sinkhorn did not converge")
def test_response_ot_plan_equals_pot_sinkhorn_log() -> None:
    student, teacher = torch.randn(1, 1, 4, 5), torch.randn(1, 1, 4, 5)
    loss, plan = response_ot_loss(student, teacher, epsilon=0.01, n_iters=100)
    a = torch.softmax(student.flatten().double() / 2, dim=0)
    b = torch.softmax(teacher.flatten().double() / 2, dim=0)
    cost = torch.cdist(grid_positions(4, 5, dtype=torch.float64), grid_positions(4, 5, dtype=torch.float64))
    ref = ot.sinkhorn(a.numpy(), b.numpy(), cost.numpy(), 0.01, method="sinkhorn_log", numItermax=100, stopThr=0.0)
    torch.testing.assert_close(plan[0], torch.from_numpy(ref), rtol=1e-6, atol=1e-12)
    assert float(loss) == pytest.approx(float((torch.from_numpy(ref) * cost).sum()), rel=1e-5)


def test_response_ot_is_near_its_entropic_floor_for_identical_maps_and_grows_with_shift() -> None:
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")

    def blob(cx: float) -> torch.Tensor:
        return (-((xx - cx) ** 2 + (yy - 8.0) ** 2) / 4.0).view(1, 1, 16, 16) * 4.0

    same = float(response_ot_loss(blob(5.0), blob(5.0), epsilon=0.01, n_iters=100)[0])
    near = float(response_ot_loss(blob(7.0), blob(5.0), epsilon=0.01, n_iters=100)[0])
    far = float(response_ot_loss(blob(11.0), blob(5.0), epsilon=0.01, n_iters=100)[0])
    assert same < 0.2 * near and near < far
    # A shift of 6 px of 16 moves (almost) all the mass 6/16 of the map side.
    assert far == pytest.approx(6 / 16, rel=0.1)


@pytest.mark.parametrize("differentiate_plan", [False, True])
def test_response_ot_gradient_moves_the_student_map_towards_the_teacher(differentiate_plan: bool) -> None:
    teacher = torch.randn(2, 1, 8, 8) * 3
    student = torch.randn(2, 1, 8, 8, requires_grad=True)
    kw = dict(epsilon=0.01, n_iters=100, differentiate_plan=differentiate_plan)
    before, _ = response_ot_loss(student, teacher, **kw)
    before.backward()
    assert torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0
    with torch.no_grad():
        after, _ = response_ot_loss(student - 2.0 * student.grad / student.grad.norm(), teacher, **kw)
    assert after < before


def test_released_response_ot_is_the_distance_between_the_softened_maps() -> None:
    teacher = torch.randn(3, 1, 8, 8) * 3
    student = torch.randn(3, 1, 4, 4, requires_grad=True)  # resized to the teacher's grid
    loss = released_response_ot_loss(student, teacher, epsilon=0.01, n_iters=100)
    p_s = torch.softmax(torch.nn.functional.interpolate(student, size=(8, 8), mode="bilinear").flatten(1) / 2, 1)
    p_t = torch.softmax(teacher.flatten(1) / 2, 1)
    assert float(loss.detach()) == pytest.approx(float((p_s - p_t).detach().norm(dim=1).mean()), rel=1e-5)
    assert float(released_response_ot_loss(teacher, teacher, epsilon=0.01, n_iters=100)) == 0.0
    loss.backward()
    with torch.no_grad():
        step = student - 5.0 * student.grad / student.grad.norm()
        assert released_response_ot_loss(step, teacher, epsilon=0.01, n_iters=100) < loss
    # The default is the released form; "position" switches to OT over pixel positions.
    out = make_outputs()
    assert build("had_authors").config.authors_ot_cost == "released"
    released = build("had_authors")(*out)[1]["ot_response"]
    position = build("had_authors", authors_ot_cost="position")(*out)[1]["ot_response"]
    assert released != pytest.approx(position)


def test_ot_diagnostics_are_logged_on_diagnostic_steps_only() -> None:
    student, teacher = make_outputs()
    loss = build("had_authors", authors_ot_cost="position")
    assert "ot_entropy/ot_response" not in loss(student, teacher)[1]
    loss.combiner.diagnose = True
    logs = loss(student, teacher)[1]
    assert 0.0 <= logs["ot_entropy/ot_response"] <= 1.0 and logs["ot_distance/ot_response"] > 0
    # Normalised entropy: 1 for the independent plan a b^T, 0 for a deterministic matching.
    a, b = torch.softmax(torch.randn(2, 5), 1), torch.softmax(torch.randn(2, 5), 1)
    assert marginal_plan_entropy(a[:, :, None] * b[:, None, :]) == pytest.approx(1.0, abs=1e-6)
    assert marginal_plan_entropy(torch.diag_embed(a)) == pytest.approx(0.0, abs=1e-6)


# --- the authors' token GRUs ----------------------------------------------------------------------------------------


def test_token_gru_is_frozen_as_released_and_trainable_on_request() -> None:
    student, teacher = make_outputs()
    frozen = build("had_authors")
    grus = {k: v.clone() for k, v in frozen.state_dict().items() if "_gru." in k}
    assert grus and all(not p.requires_grad for n, p in frozen.named_parameters() if "_gru." in n)
    params = [p for p in frozen.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=0.1, weight_decay=0.1)
    total, logs = frozen(student, teacher)
    total.backward()
    opt.step()
    for k, v in grus.items():
        torch.testing.assert_close(frozen.state_dict()[k], v, rtol=0, atol=0, msg=k)
    # L_TA reaches the student through the fixed random GRU.
    assert frozen.combiner.last_terms["ta"].requires_grad and logs["ta"] > 0
    trainable = build("had_authors", authors_train_gru=True)
    assert all(p.requires_grad for n, p in trainable.named_parameters() if "_gru." in n)
    trainable(*make_outputs())[0].backward()
    assert trainable.student_gru.gru.weight_ih_l0.grad.abs().sum() > 0


def test_map_tokens_pools_row_major() -> None:
    fmap = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    tokens = map_tokens(fmap, max_grid=8)
    assert tokens.shape == (2, 16, 3)
    torch.testing.assert_close(tokens[1, 5], fmap[1, :, 1, 1])
    assert map_tokens(fmap, max_grid=2).shape == (2, 4, 3)


@pytest.mark.parametrize("name", ["student_hdetrack.yaml", "student_had_authors.yaml",
                                  "tiny_student_hdetrack.yaml", "tiny_student_had_authors.yaml"])
def test_configs_carry_the_released_weights(name: str) -> None:
    section = parse_distill_section(load_config(CONFIGS / name).distill, name)
    cfg = section.config
    assert cfg.mode == name.removeprefix("tiny_").removeprefix("student_").removesuffix(".yaml")
    assert (cfg.hdetrack_feature_weight, cfg.hdetrack_similarity_weight, cfg.hdetrack_response_weight) == (1, 10, 1)
    assert cfg.temperature == 2.0 and section.teacher_path is not None
    if cfg.mode == "had_authors":
        assert (cfg.authors_ta_weight, cfg.authors_ot_weight, cfg.authors_ot_epsilon) == (10, 3, 0.01)
        assert not cfg.authors_train_gru and cfg.authors_ot_cost == "released"
        assert cfg.authors_ot_iterations == (20 if name.startswith("tiny_") else 100)


# --- through the training loop ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sequences() -> list:
    cfg = SynthConfig(width_px=96, height_px=72, duration_s=0.5)
    return [generate_sequence(cfg, seed=i, attributes=(), name=f"s{i}") for i in range(2)]


@pytest.fixture(scope="module")
def teacher_ckpt(sequences: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("teacher")
    train(load_config(CONFIGS / "tiny_teacher.yaml", {"model": "teacher", "epochs": 1}), out, sequences, progress=False)
    return out / "last.pt"


def student_cfg(name: str, teacher: Path, **overrides):
    raw = load_config(CONFIGS / name).to_dict()
    return load_config(CONFIGS / name, {"data": {**raw["data"], "samples_per_epoch": 8}, "epochs": 1,
                                        "distill": {**raw["distill"], "teacher": str(teacher)}, **overrides})


@pytest.mark.parametrize("mode", sorted(LOSSES))
def test_two_step_training_logs_every_term(mode: str, sequences: list, teacher_ckpt: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = student_cfg(f"tiny_student_{mode}.yaml", teacher_ckpt)
    distill = build_distillation(cfg)
    assert isinstance(distill.loss, LOSSES[mode]) and distill.combiner is distill.loss.combiner
    assert distill.extra_modules == [distill.loss]
    history = train(cfg, tmp_path, sequences, progress=False, extra_loss=distill.extra_loss,
                    extra_modules=distill.extra_modules).history
    names = {"mse/stage2", "mse/stage3", "similarity", "response_focal", "distill"}
    names |= {"ta", "ot_response"} if mode == "had_authors" else set()
    for name in names:
        assert torch.isfinite(torch.tensor(history[-1][f"extra/{name}"])), name
    assert int(distill.combiner.steps) == 2
    # The loop's per-term gradient diagnostics see every term (first batch of the epoch).
    for name in names - {"distill"}:
        assert history[-1][f"diag/grad/{name}"] >= 0, name
    if mode == "had_authors":  # the released L_OT transports one point: no plan diagnostics
        assert "extra/ot_entropy/ot_response" not in history[-1]


def test_resume_restores_the_frozen_token_grus(sequences: list, teacher_ckpt: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = student_cfg("tiny_student_had_authors.yaml", teacher_ckpt, epochs=2)
    first = build_distillation(cfg)
    grus = {k: v.clone() for k, v in first.loss.state_dict().items() if "_gru." in k}
    calls = {"n": 0}

    def interrupt_at_step_3(out: dict, batch: dict):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return first.extra_loss(out, batch)

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path, sequences, progress=False, extra_loss=interrupt_at_step_3,
              extra_modules=first.extra_modules)
    saved = load_checkpoint(tmp_path / "last.pt")["extra_modules"][0]
    for k, v in grus.items():  # saved, unchanged by the optimiser
        torch.testing.assert_close(saved[k], v, rtol=0, atol=0, msg=k)
    second = build_distillation(cfg)  # perturb the fresh module's GRUs: the checkpoint's weights must win
    with torch.no_grad():
        for name, p in second.loss.named_parameters():
            if "_gru." in name:
                p.add_(1.0)
    train(cfg, tmp_path, sequences, progress=False, resume=True, extra_loss=second.extra_loss,
          extra_modules=second.extra_modules)
    for k, v in grus.items():
        torch.testing.assert_close(second.loss.state_dict()[k], v, rtol=0, atol=0, msg=k)
