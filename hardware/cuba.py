"""The one definition of the CUBA LIF neuron on Loihi: fixed-point constants and the float <-> fixed mapping.

Everything that must agree with the chip reads it from here: the training neuron
(:class:`had_snn.models.neurons.CubaLIF` and its Loihi-faithful mode), the quantiser
(:mod:`had_snn.conversion.quantize`), the emulator (torch and numba paths), the netx and NIR exports.

Integer dynamics (Lava 0.10 ``PyLifModelBitAcc``; per step, ``a_in`` is the synaptic sum delivered one step after the
presynaptic spikes)::

    u = sgn(u * (4096 - i_decay)) * (|u * (4096 - i_decay)| >> 12) + (a_in << 6)      then one 24-bit wrap
    v = sgn(v * (4096 - v_decay)) * (|v * (4096 - v_decay)| >> 12) + u + (bias_mant << 6)   clipped to +-(2**23 - 1)
    spike = v > (vth_mant << 6);  v = 0 where spike  (u is kept)

Float view of one layer with scale ``k`` (integer units per float unit of current): ``u_int = 64 k u``, ``v_int =
64 k v``, weights ``w_int = k w``, ``bias_mant = k b``, ``vth_mant = k threshold``, ``alpha = 1 - i_decay / 4096``,
``beta = 1 - v_decay / 4096``. The float model that matches the chip therefore puts the bias into the voltage every
step from step 0 and delays each synaptic layer by one step.

This module imports only numpy (it runs inside the Lava venv too); the straight-through helpers import torch lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DECAY_UNITY = 4096  # decays are in 1/4096
DECAY_SHIFT = 12  # log2(DECAY_UNITY)
ACT_SHIFT = 6  # synaptic input enters u shifted left by 6
BIAS_EXP = 6  # bias_mant enters v shifted left by 6
VTH_SHIFT = 6  # v is compared with vth_mant << 6
UV_LIMIT = 1 << 23  # u wraps, v clips at 24 bit signed
CONV_WRAP_BITS = 24  # Lava's Conv wraps its output (the synaptic sum) to signed 24 bit

#: Lava LIF field limits (lava/proc/lif/models.py): du/dv unsigned 12 bit (iDecay = du + 1 may reach 4096),
#: bias_mant signed 13 bit, vth_mant unsigned 17 bit.
I_DECAY_RANGE = (1, 4096)
V_DECAY_RANGE = (0, 4095)
BIAS_MANT_RANGE = (-4096, 4095)
VTH_MANT_RANGE = (0, (1 << 17) - 1)
#: Weight range of Lava's Dense clip for mixed-sign 8-bit weights (lava/utils/weightutils.py); the lowest bit is then
#: truncated, so the weights that survive unchanged are the even values in [-256, 254].
WEIGHT_RANGE = (-256, 255)
WEIGHT_MIN, WEIGHT_MAX = -256, 254
#: Threshold mantissa of a non-spiking read-out: the largest 17-bit value. ``(2**17 - 1) << 6 = 8388544``, so the
#: read-out fires (and resets) only when ``v`` comes within 63 of its clip at ``2**23 - 1``.
READOUT_VTH_MANT = VTH_MANT_RANGE[1]


def i_decay_of(alpha: float) -> int:
    """Current decay field ``iDecay`` (Lava ``du = iDecay - 1``) of a float current decay ``alpha``."""
    return int(np.clip(np.rint((1.0 - float(alpha)) * DECAY_UNITY), *I_DECAY_RANGE))


def v_decay_of(beta: float) -> int:
    """Voltage decay field ``vDecay`` (Lava ``dv``) of a float voltage decay ``beta``."""
    return int(np.clip(np.rint((1.0 - float(beta)) * DECAY_UNITY), *V_DECAY_RANGE))


def alpha_of(i_decay: int) -> float:
    """The float current decay the chip applies for ``iDecay``."""
    return 1.0 - i_decay / DECAY_UNITY


def beta_of(v_decay: int) -> float:
    """The float voltage decay the chip applies for ``vDecay``."""
    return 1.0 - v_decay / DECAY_UNITY


def layer_scale(weight_ref: float, bias_max: float, threshold: float | None) -> tuple[float, str]:
    """Integer units per float unit ``k`` of one layer, and which field limits it.

    ``weight_ref``: the |weight| that maps to :data:`WEIGHT_MAX` (the largest, or a percentile); ``bias_max``: the
    largest |bias| (13-bit mantissa); ``threshold``: float threshold (17-bit mantissa) or None for a read-out. For a
    spiking layer ``k`` is then lowered so that ``threshold * k`` is an integer: the threshold is exact on the chip.
    """
    if not weight_ref > 0:
        raise ValueError(f"weight reference must be > 0 to scale a layer, got {weight_ref}")
    limits = {"weights": WEIGHT_MAX / float(weight_ref)}
    if bias_max > 0:
        limits["bias (13 bit)"] = BIAS_MANT_RANGE[1] / float(bias_max)
    if threshold is not None:
        limits["threshold (17 bit)"] = VTH_MANT_RANGE[1] / float(threshold)
    limited_by = min(limits, key=limits.get)
    k = limits[limited_by]
    if threshold is not None:
        vth = np.floor(k * threshold)
        if vth < 1:
            raise ValueError(f"threshold {threshold} x scale {k:.3g} rounds below 1 (vThMant must be >= 1)")
        k = float(vth / threshold)
    return float(k), limited_by


def weight_mantissa(w: Any, k: Any) -> Any:
    """Integer weights ``2 * round(w * k / 2)`` clipped to [-256, 254] (numpy or torch; same dtype as ``w``)."""
    if isinstance(w, np.ndarray):
        return np.clip(2 * np.rint(w * k / 2), WEIGHT_MIN, WEIGHT_MAX)
    return (w * k / 2).round().mul(2).clamp(WEIGHT_MIN, WEIGHT_MAX)


def bias_mantissa(b: Any, k: Any) -> Any:
    """Integer voltage bias ``round(b * k)`` clipped to the 13-bit range (numpy or torch)."""
    if isinstance(b, np.ndarray):
        return np.clip(np.rint(b * k), *BIAS_MANT_RANGE)
    return (b * k).round().clamp(*BIAS_MANT_RANGE)


def vth_mantissa(threshold: float | None, k: float) -> int:
    """Threshold mantissa of a layer with scale ``k``; the read-out's never-firing value for ``threshold=None``."""
    if threshold is None:
        return READOUT_VTH_MANT
    vth = int(np.rint(threshold * k))
    if not VTH_MANT_RANGE[0] < vth <= VTH_MANT_RANGE[1]:
        raise ValueError(f"threshold {threshold} x scale {k:.6g} = {vth} outside vThMant [1, {VTH_MANT_RANGE[1]}]")
    return vth


def fake_quantize(x: Any, k: Any, kind: str = "weight") -> Any:
    """Torch ``x`` moved onto the chip's grid (``weight`` or ``bias`` mantissa / ``k``) with a straight-through
    gradient: the forward equals what the quantiser writes, the backward is the identity inside the range."""
    q = (weight_mantissa if kind == "weight" else bias_mantissa)(x.detach(), k) / k
    return x + (q - x).detach()


def chip_decays(alpha: float, beta: float) -> tuple[float, float]:
    """Float ``alpha``, ``beta`` as the chip runs them: on the 1/4096 grid, within the decay fields' ranges (what
    the quantiser writes, the emulator runs and the NIR export states)."""
    return alpha_of(i_decay_of(float(alpha))), beta_of(v_decay_of(float(beta)))


def decays_on_grid(alpha: Any, beta: Any) -> tuple[Any, Any]:
    """Torch ``alpha``, ``beta`` (0-dim) moved to :func:`chip_decays`, straight-through (the gradient of the float
    values)."""
    a_q, b_q = chip_decays(float(alpha.detach()), float(beta.detach()))  # Python floats: fewer tensor ops per call
    return alpha + (a_q - alpha.detach()), beta + (b_q - beta.detach())


# --- integer dynamics (one definition for the torch emulator, its numba kernel and any numpy user) -------------------
# Written with operators only (no np./torch. calls, no branches), so the same functions run on Python ints, numpy and
# torch integer arrays, and compile unchanged with numba (``numba.njit(lif_step_int)`` in hardware/cuba_kernels.py).


def keep_of(decay: int) -> int:
    """What a decay field keeps per step, in 1/4096: ``4096 - decay`` (``decay`` = iDecay, or vDecay)."""
    return DECAY_UNITY - decay


def decay_int(x: Any, keep: Any) -> Any:
    """``sgn(x * keep) * (|x * keep| >> 12)``: Lava's sign-magnitude decay (rounds toward zero)."""
    y = x * keep
    return (abs(y) >> DECAY_SHIFT) * ((y > 0) * 1 - (y < 0) * 1)


def wrap_u(x: Any) -> Any:
    """Lava's single 24-bit wrap of the current ``u``: values ``> 2**23`` lose ``2**24``, values ``<= -2**23`` gain it
    (so ``+2**23`` is kept and ``-2**23`` becomes ``+2**23``)."""
    w = x - (2 * UV_LIMIT) * (x > UV_LIMIT)
    return w + (2 * UV_LIMIT) * (w <= -UV_LIMIT)


def clip_v(x: Any) -> Any:
    """The voltage clip to ``+-(2**23 - 1)``."""
    hi = UV_LIMIT - 1
    x = x + (hi - x) * (x > hi)
    return x + (-hi - x) * (x < -hi)


def signed_wrap(x: Any, bits: int) -> Any:
    """Two's-complement wrap to ``bits`` (``lava.proc.conv.utils.signed_clamp``: Lava's Conv output, 24 bit)."""
    base = 1 << bits
    return (x + base // 2) % base - base // 2


def lif_step_int(u: Any, v: Any, a_in: Any, keep_u: Any, keep_v: Any, bias_shifted: Any, vth_shifted: Any
                 ) -> tuple[Any, Any, Any]:
    """One ``PyLifModelBitAcc`` step on integers: returns the new ``u``, ``v`` after the reset, and the spikes.

    ``a_in``: the synaptic sum delivered this step; ``keep_u = 4096 - iDecay``, ``keep_v = 4096 - vDecay``
    (:func:`keep_of`); ``bias_shifted = bias_mant << BIAS_EXP``; ``vth_shifted = vth_mant << VTH_SHIFT``."""
    u = wrap_u(decay_int(u, keep_u) + (a_in << ACT_SHIFT))
    v = clip_v(decay_int(v, keep_v) + u + bias_shifted)
    fired = v > vth_shifted
    return u, v * (v <= vth_shifted), fired
