"""The tracker's box-update options, shared by ``had-snn eval`` and ``had-snn track`` (not a command itself), and
the argparse value types of the tracking commands (a bad value is a usage error naming the option)."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from had_snn.tracking.tracker import BoxUpdate


def _int_at_least(low: int, what: str):
    """An argparse type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    parse.__doc__ = f"argparse type: an integer >= {low}."
    return parse


positive_int = _int_at_least(1, "positive_int")
nonnegative_int = _int_at_least(0, "nonnegative_int")  # an index


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number (no nan / inf)."""
    return _float(text, "a finite number")


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _float(text, "a finite number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _float(text, "a finite number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def add_box_update_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--window-influence``, the size safeguards and the centre filter of
    :class:`~had_snn.tracking.tracker.BoxUpdate`."""
    parser.add_argument("--window-influence", type=finite_float, default=0.25,
                        help="cosine-window weight in [0, 1] when picking the peak (default 0.25)")
    parser.add_argument("--size-lr", type=float, default=0.4,
                        help="size damping: new size = (1 - lr) * previous + lr * predicted, lr = SIZE_LR * peak "
                             "score (SiamRPN; default 0.4, 1 = no damping)")
    parser.add_argument("--scale-penalty", type=float, default=0.04,
                        help="SiamRPN penalty_k on peaks whose size / aspect departs from the previous box "
                             "(default 0.04, 0 = off)")
    parser.add_argument("--max-scale-step", type=float, default=1.1,
                        help="largest per-frame size change factor per side (default 1.1, inf = unbounded)")
    parser.add_argument("--init-scale-range", type=float, nargs=2, default=(0.2, 5.0), metavar=("LOW", "HIGH"),
                        help="box size bounds relative to the first box (SiamFC; default 0.2 5)")
    parser.add_argument("--max-size-frac", type=float, default=1.0,
                        help="largest box width / height as a fraction of the sensor's (default 1)")
    parser.add_argument("--centre-gain", type=float, default=0.5,
                        help="alpha-beta filter on the box centre: share of each frame's residual the centre takes "
                             "(default 0.5, 1 = the decoded centre as it is)")
    parser.add_argument("--velocity-gain", type=float, default=0.1,
                        help="the filter's velocity gain, in [0, --centre-gain] (default 0.1, 0 = no velocity)")
    parser.add_argument("--no-safeguards", action="store_true",
                        help="take every predicted box as it is (ignores the seven options above)")


def box_update_from_args(args: argparse.Namespace) -> BoxUpdate:
    """The :class:`~had_snn.tracking.tracker.BoxUpdate` the options ask for (ValueError names a bad option)."""
    from had_snn.tracking.tracker import BoxUpdate

    if args.no_safeguards:
        return BoxUpdate.none()
    return BoxUpdate(size_lr=args.size_lr, penalty_k=args.scale_penalty, max_scale_step=args.max_scale_step,
                     init_scale_range=tuple(args.init_scale_range), max_size_frac=args.max_size_frac,
                     centre_gain=args.centre_gain, velocity_gain=args.velocity_gain)
