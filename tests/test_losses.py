"""Loss values on hand cases, gradients, and centre-head decoding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from had_snn.tracking.crop import target_heatmap
from had_snn.tracking.decode import boxes_at, decode, hann_window
from had_snn.train.losses import focal_loss, giou, tracking_loss


def test_focal_loss_hand_case() -> None:
    logits = torch.zeros(1, 1, 2, 2, requires_grad=True)  # p = 0.5 everywhere
    target = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]])
    # positive: 0.5^2 ln2; neg at 0.5: 0.5^4 * 0.5^2 ln2; two negatives at 0: 0.5^2 ln2 each; one peak
    expected = math.log(2) * (0.25 + 0.0625 * 0.25 + 2 * 0.25)
    loss = focal_loss(logits, target)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert logits.grad[0, 0, 0, 0] < 0 and (logits.grad[0, 0, 1] > 0).all()  # raise the peak, lower the rest
    with pytest.raises(ValueError, match="differ in shape"):
        focal_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3))


def test_focal_loss_is_stable_for_confident_logits() -> None:
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1, 2] = 1
    logits = torch.where(target == 1, 50.0, -50.0)
    assert float(focal_loss(logits, target)) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(float(focal_loss(-logits, target)))


def test_giou_hand_cases() -> None:
    # xyxy [0,0,2,2] vs [1,1,3,3]: IoU 1/7, hull 9, union 7 -> GIoU 1/7 - 2/9; disjoint [0,0,1,1] vs [2,0,3,1]: -1/3
    pred = torch.tensor([[1.0, 1, 2, 2], [0.5, 0.5, 1, 1], [3, 3, 1, 2]])
    tgt = torch.tensor([[2.0, 2, 2, 2], [2.5, 0.5, 1, 1], [3, 3, 1, 2]])
    g, iou = giou(pred, tgt)
    np.testing.assert_allclose(g.numpy(), [1 / 7 - 2 / 9, -1 / 3, 1.0], rtol=1e-6)
    np.testing.assert_allclose(iou.numpy(), [1 / 7, 0.0, 1.0], rtol=1e-6)


def head_output(hm_px: int = 16, size=(0.25, 0.25), offset=(0.48, 0.48), peak=(4, 8)) -> dict:
    heat = torch.full((1, 1, hm_px, hm_px), -20.0)
    heat[0, 0, peak[0], peak[1]] = 20.0
    return {
        "heatmap": heat,
        "size": torch.tensor(size).view(1, 2, 1, 1).expand(1, 2, hm_px, hm_px).clone(),
        "offset": torch.tensor(offset).view(1, 2, 1, 1).expand(1, 2, hm_px, hm_px).clone(),
    }


def test_tracking_loss_hand_cases() -> None:
    tgt = np.array([0.53, 0.28, 0.25, 0.25], np.float32)  # centre cell (4, 8), offset (0.48, 0.48)
    batch = {"target_box": torch.tensor(tgt)[None], "target_heatmap": torch.tensor(target_heatmap(tgt, 16))[None]}
    total, terms = tracking_loss(head_output(), batch)
    assert terms["l1"] == pytest.approx(0, abs=1e-6) and terms["giou"] == pytest.approx(0, abs=1e-6)
    assert terms["iou"] == pytest.approx(1.0, abs=1e-6)
    assert float(total) == pytest.approx(terms["focal"], abs=1e-5)
    # predicted width doubled: IoU 0.5 = GIoU (hull = union), L1 = 0.25 / 4
    total, terms = tracking_loss(head_output(size=(0.5, 0.25)), batch, weights={"focal": 0.0})
    assert terms["l1"] == pytest.approx(0.0625, rel=1e-5) and terms["giou"] == pytest.approx(0.5, rel=1e-5)
    assert float(total) == pytest.approx(5 * 0.0625 + 2 * 0.5, rel=1e-5)
    with pytest.raises(ValueError, match="unknown tracking loss weight"):
        tracking_loss(head_output(), batch, weights={"ce": 1.0})


def test_tracking_loss_gradients_reach_every_head() -> None:
    out = {k: v.clone().requires_grad_(True) for k, v in head_output(size=(0.4, 0.1), offset=(0.1, 0.9)).items()}
    tgt = np.array([0.53, 0.28, 0.25, 0.25], np.float32)
    batch = {"target_box": torch.tensor(tgt)[None], "target_heatmap": torch.tensor(target_heatmap(tgt, 16))[None]}
    total, _ = tracking_loss(out, batch)
    total.backward()
    assert all(out[k].grad.abs().sum() > 0 for k in ("heatmap", "size", "offset"))


def test_hann_window() -> None:
    w = hann_window(16)
    assert w.shape == (16, 16) and float(w.min()) > 0
    torch.testing.assert_close(w, w.T)
    # centred on cell 8, where the tracker's search crop puts the previous estimate: symmetric about it
    torch.testing.assert_close(w[1:], w[1:].flip(0))
    assert float(w[8, 8]) == float(w.max()) == pytest.approx(1.0)


def test_decode_reads_peak_offset_and_size() -> None:
    box, score = decode(head_output(), window_influence=0.0)
    torch.testing.assert_close(box, torch.tensor([[(8 + 0.48) / 16, (4 + 0.48) / 16, 0.25, 0.25]]))
    assert float(score) == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(boxes_at(head_output(), torch.tensor([4]), torch.tensor([8])), box)


def test_cosine_window_prefers_centre() -> None:
    out = head_output()
    out["heatmap"][:] = -20.0
    out["heatmap"][0, 0, 0, 0] = 2.2  # p = 0.90 at the corner
    out["heatmap"][0, 0, 8, 7] = 1.4  # p = 0.80 near the centre
    box_plain, _ = decode(out, window_influence=0.0)
    box_win, score = decode(out, window_influence=0.3)
    assert float(box_plain[0, 0]) == pytest.approx(0.48 / 16)
    assert float(box_win[0, 0]) == pytest.approx(7.48 / 16) and float(score) == pytest.approx(0.802, abs=1e-3)
    with pytest.raises(ValueError, match="window_influence"):
        decode(out, window_influence=1.5)
