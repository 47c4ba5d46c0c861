"""Rows: training configs refused by field name and type, bad ``distill.teacher`` and ``init_from`` paths, and
quantisation-aware settings that cannot work, bad ``activity:`` sections (ids ``cfg-``); bad values of the
distillation modes ``hdetrack`` / ``had_authors`` and of the balancing / diagnostics fields, and one successful
``had_authors`` run (ids ``kd-``).

Each row writes ``{tmp}/bad.yaml`` (a tiny student config with one bad field), runs
``had-snn train student --config {tmp}/bad.yaml --data {data} --out {tmp}/run`` and checks that ``{tmp}/run`` was
not created or is empty afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from tests.bad_input_cases import Case, Env

_BASE = {"model": "student", "model_config": {"widths": [4, 8, 8], "head_channels": 8},
         "data": {"samples_per_epoch": 4, "max_gap": 2, "crop": {"student_steps": 2}}, "epochs": 1, "batch_size": 2}
_ARGV = ("train", "student", "--config", "{tmp}/bad.yaml", "--data", "{data}", "--out", "{tmp}/run")


def _write(text: str | Callable[[Env], str]) -> Callable[[Env], None]:
    """A setup writing ``{tmp}/bad.yaml``: the base config's YAML followed by ``text`` (later keys win)."""
    def setup(env: Env) -> None:
        extra = text(env) if callable(text) else text
        (env.tmp / "bad.yaml").write_text(yaml.safe_dump(_BASE, sort_keys=False) + extra + "\n")

    return setup


def _replace(text: str) -> Callable[[Env], None]:
    """A setup writing ``{tmp}/bad.yaml`` with exactly ``text``."""
    def setup(env: Env) -> None:
        (env.tmp / "bad.yaml").write_text(text)

    return setup


def _binary(env: Env) -> None:
    (env.tmp / "bad.yaml").write_bytes(env.seq.read_bytes()[:256])  # an HDF5 file named like a config


def _no_run(env: Env) -> None:
    run = env.tmp / "run"
    assert not run.exists() or not any(run.iterdir()), sorted(p.name for p in run.iterdir())


def _row(case_id: str, extra: str | Callable[[Env], str], *words: str, whole: str | None = None) -> Case:
    setup = (_binary if whole == "" else _replace(whole)) if whole is not None else _write(extra)
    return Case(f"cfg-{case_id}", _ARGV, 1, ("bad.yaml", *words), setup, _no_run)


def _teacher(path: str) -> Callable[[Env], str]:
    return lambda env: yaml.safe_dump({"distill": {"mode": "had", "teacher": path.format(tmp=env.tmp, seq=env.seq,
                                                                                       student=env.student)}})


def _text_file(env: Env) -> str:
    (env.tmp / "notes.pt").write_text("not a checkpoint\n")
    return yaml.safe_dump({"distill": {"mode": "had", "teacher": "notes.pt"}})  # relative to bad.yaml's folder


def _init(path: str) -> Callable[[Env], str]:
    return lambda env: yaml.safe_dump({"init_from": path.format(tmp=env.tmp, seq=env.seq, student=env.student,
                                                                teacher=env.teacher)})


def _init_text_file(env: Env) -> str:
    (env.tmp / "notes.pt").write_text("not a checkpoint\n")
    return "init_from: notes.pt"  # relative to bad.yaml's folder


_QAT = "model_config: {widths: [4, 8, 8], head_channels: 8, qat: true"


CASES = [
    _row("epochs-text", "epochs: ten", "epochs: expected an integer", "'ten'"),
    _row("epochs-fraction", "epochs: 1.7", "epochs: expected an integer", "1.7"),
    _row("epochs-bool", "epochs: true", "epochs: expected an integer", "true (a boolean)"),
    _row("epochs-zero", "epochs: 0", "epochs: expected a value >= 1"),
    _row("negative-width", "model_config: {widths: [4, -8, 8]}", "model_config.widths[1]", "got -8"),
    _row("fractional-width", "model_config: {widths: [4, 1.7, 8]}", "model_config.widths[1]",
         "expected an integer"),
    _row("absurd-width", "model_config: {widths: [4, 8, 1000000]}", "model_config.widths[2]", "<= 4096"),
    _row("list-for-mapping", "data: [train, 16]", "data: expected a mapping", "(a list)"),
    _row("model-config-list", "model_config: [4, 8, 8]", "model_config: expected a mapping"),
    _row("lr-nan", "lr: .nan", "lr: expected a finite number"),
    _row("unknown-key", "epoch: 3", "unknown field(s) ['epoch']"),
    _row("crop-zero-steps", "data: {crop: {student_steps: 0}}", "data.crop.student_steps", ">= 1"),
    _row("loss-weight-text", "loss_weights: {focal: high}", "loss_weights.focal", "expected a number"),
    _row("distill-weight-text",
         "distill: {mode: had, teacher: t.pt, stages: [stage2, stage3], stage_weights: [1, x]}",
         "distill.stage_weights[1]", "'x'"),
    _row("not-yaml", "", "not valid yaml", whole="epochs: [1, 2\n"),
    _row("top-level-list", "", "expected a mapping", whole="- epochs\n- 3\n"),
    _row("teacher-missing", _teacher("../nowhere/last.pt"), "distill.teacher", "'../nowhere/last.pt'",
         "does not exist", "--teacher"),
    _row("teacher-text-file", _text_file, "distill.teacher", "notes.pt", "not a had-snn checkpoint"),
    _row("teacher-is-h5", _teacher("{seq}"), "distill.teacher", "an hdf5 file", "not a had-snn checkpoint"),
    Case("cfg-config-is-folder", ("train", "student", "--config", "{tmp}", "--data", "{data}", "--out",
                                  "{tmp}/run"), 1, ("is a folder",), check=_no_run),
    _row("config-is-binary", "", "not a text file", whole=""),
    Case("cfg-teacher-option-missing", (*_ARGV, "--teacher", "{tmp}/nope.pt"), 1,
         ("--teacher", "nope.pt", "does not exist"), _write(_teacher("{student}")), _no_run),
    Case("cfg-teacher-option-not-checkpoint", (*_ARGV, "--teacher", "{seq}"), 1,
         ("--teacher", "an hdf5 file", "not a had-snn checkpoint"), _write(_teacher("{student}")), _no_run),
    Case("cfg-teacher-option-without-distill", (*_ARGV, "--teacher", "{teacher}"), 1,
         ("--teacher", "does not distill", "distill:"), _write(""), _no_run),
    _row("teacher-is-student", _teacher("{student}"), "distill.teacher", "holds a student checkpoint"),
    _row("student-not-faithful", f"{_QAT}, loihi_faithful: false}}\ninit_from: x.pt", "model_config.loihi_faithful",
         "not supported", "set it to true"),
    _row("qat-without-init", f"{_QAT}}}", "model_config.qat", "init_from", "--init"),
    _row("init-from-number", "init_from: 3", "init_from: expected a string or null", "3 (an integer)"),
    _row("init-missing", _init("../nowhere/last.pt"), "init_from", "'../nowhere/last.pt'", "does not exist"),
    _row("init-text-file", _init_text_file, "init_from", "notes.pt", "not a had-snn checkpoint"),
    _row("init-is-h5", _init("{seq}"), "init_from", "an hdf5 file", "not a had-snn checkpoint"),
    _row("init-is-teacher", _init("{teacher}"), "init_from", "holds a 'teacher' model", "trains 'student'"),
    _row("init-other-architecture", lambda env: yaml.safe_dump({"init_from": str(env.student),
                                                                "model_config": {"widths": [4, 6, 8]}}),
         "init_from", "another architecture", "widths"),
    _row("activity-mode", "activity: {mode: joules, weight: 1}", "activity.mode", "fanout", "rate", "'joules'"),
    _row("activity-weight-negative", "activity: {weight: -0.5}", "activity.weight", ">= 0"),
    _row("activity-weight-text", "activity: {weight: much}", "activity.weight", "expected a number"),
    _row("activity-rate-no-targets", "activity: {mode: rate, weight: 1}", "activity.targets", "mode: rate needs"),
    _row("activity-rate-too-high", "activity: {mode: rate, weight: 1, targets: {head.0: 3}}",
         "activity.targets.head.0", "[0, 1]", "3"),
    _row("activity-unknown-layer", "activity: {mode: rate, weight: 1, targets: {backbone.9: 0.1}}",
         "activity.targets", "unknown layer", "backbone.9", "backbone.0"),
    _row("activity-not-mapping", "activity: 0.1", "activity: expected a mapping"),
    _row("activity-unknown-key", "activity: {weigth: 1}", "activity: unknown field(s) ['weigth']"),
]


# --- distillation modes hdetrack / had_authors and the balancing / diagnostics fields (ids ``kd-``) -------------------


def _kd(fields: str, mode: str = "hdetrack") -> Callable[[Env], str]:
    """``distill:`` of mode ``mode`` with the tiny teacher and ``fields`` (YAML flow-mapping items)."""
    return lambda env: f"distill: {{mode: {mode}, teacher: '{env.teacher}', stages: [stage2, stage3], " \
                       f"stage_weights: [1, 1], {fields}}}"


_KD_CROP = ("data: {samples_per_epoch: 4, max_gap: 2, crop: {student_steps: 2, template_px: 16, search_px: 32}}\n"
            "model_config: {widths: [4, 8, 8], head_channels: 8, template_px: 16, search_px: 32}\n")


def _kd_trained(env: Env) -> None:
    """The good row: a checkpoint whose history logs the authors' terms, frozen token GRUs saved with it."""
    from had_snn.models.checkpoint import load_checkpoint

    state = load_checkpoint(env.tmp / "run" / "last.pt")
    assert {"extra/ta", "extra/ot_response", "extra/similarity"} <= set(state["history"][-1])
    assert any("student_gru." in k for k in state["extra_modules"][0])


def _kd_row(case_id: str, extra: str | Callable[[Env], str], *words: str) -> Case:
    return Case(f"kd-{case_id}", _ARGV, 1, ("bad.yaml", *words), _write(extra), _no_run)


CASES += [
    _kd_row("mode-misspelt", _kd("ot_max_grid: 8", mode="hdetrak"), "distill.mode", "hdetrack", "had_authors",
            "'hdetrak'"),
    _kd_row("balance-unknown", _kd("balance: runing"), "distill.balance", '"none" or "running"', "'runing'"),
    _kd_row("balance-momentum-one", _kd("balance: running, balance_momentum: 1.0"), "distill.balance_momentum",
            "[0, 1)", "1.0"),
    _kd_row("teacher-norm-unknown", _kd("teacher_norm: layer"), "distill.teacher_norm", '"none" or "channel"',
            "'layer'"),
    _kd_row("warmup-negative", _kd("warmup_steps: -5"), "distill.warmup_steps", ">= 0", "-5"),
    _kd_row("warmup-fraction", _kd("warmup_steps: 2.5"), "distill.warmup_steps", "expected an integer", "2.5"),
    _kd_row("adapter-lr-zero", _kd("adapter_lr_scale: 0"), "distill.adapter_lr_scale", "> 0"),
    _kd_row("diagnostics-negative", _kd("diagnostics_every: -1"), "distill.diagnostics_every", ">= 0"),
    _kd_row("similarity-weight-negative", _kd("hdetrack_similarity_weight: -10"),
            "distill.hdetrack_similarity_weight", ">= 0", "-10"),
    _kd_row("ta-weight-text", _kd("authors_ta_weight: ten", mode="had_authors"), "distill.authors_ta_weight",
            "expected a number", "'ten'"),
    _kd_row("train-gru-text", _kd("authors_train_gru: sometimes", mode="had_authors"),
            "distill.authors_train_gru", "true or false", "'sometimes'"),
    _kd_row("ot-epsilon-zero", _kd("authors_ot_epsilon: 0", mode="had_authors"), "distill.authors_ot_epsilon",
            "> 0"),
    _kd_row("ot-iterations-zero", _kd("authors_ot_iterations: 0", mode="had_authors"),
            "distill.authors_ot_iterations", ">= 1", "0"),
    _kd_row("ot-cost-unknown", _kd("authors_ot_cost: pixels", mode="had_authors"), "distill.authors_ot_cost",
            '"released" or "position"', "'pixels'"),
    _kd_row("unknown-stage", lambda env: _KD_CROP + f"distill: {{mode: had_authors, teacher: '{env.teacher}', "
                                         f"stages: [stage4], stage_weights: [1]}}",
            "distill.stages", "unknown stage 'stage4'", "stage3"),
    Case("kd-authors-trains", _ARGV, 0, (), _write(lambda env: _KD_CROP + _kd("ot_max_grid: 4", "had_authors")(env)),
         _kd_trained),
]
