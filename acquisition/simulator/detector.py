"""Source and detector model: photon counts, Beer–Lambert, noise, flat field, binning.

A frame's expected signal in a pixel is (Beer–Lambert, monochromatic)::

    N = N0 · F(r, c) · exp(−p)                    (detected photons)
    N0 = photons_per_ua_s · ua · exposure_s · (kv / reference_kv)² · (reference_sdd / sdd)²

with ``p`` the line integral of μ (:mod:`.projector`), ``F`` the flat-field pattern
(beam profile × pixel response, mean ≈ 1) and N0 the open-beam photons per *unbinned*
pixel: proportional to the tube current and the exposure (the charge through the tube),
to kV² (bremsstrahlung yield ∝ kV · current, times the filter transmission gaining with
kV; the usual rule of thumb) and to the inverse square of the source–detector distance.

Measured value (ADU, gain 1 ADU per detected photon)::

    ADU = Poisson(b² · N) / b²  +  dark_offset + dark_current · exposure  +  Normal(0, read_noise / b)

``b`` is the binning: a binned pixel is the *mean* of its b × b pixels (the camera's
digital binning keeps the 16-bit range), and the sum of b² independent Poisson counts is
itself Poisson, so drawing ``Poisson(b² N)`` is exact for a bin of equal expected counts;
read noise averages down by b. Values are rounded and clipped to 0–65535 (uint16).

Default constants (a micro-focus tube at 60 kV / 100 µA, 25 ms, an sCMOS camera with a
scintillator): ~8 000 detected photons per pixel in the open beam, dark offset 100 ADU,
dark current 2 ADU/s, read noise 1.6 ADU rms (typical sCMOS, e.g. Andor Zyla 4.2 data
sheet), flat field falling ~12 % toward the corners (cone-beam 1/r² and cos θ
obliquity, the anode heel effect along v: ±4 %) with 1 % pixel-response non-uniformity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DetectorModel", "expose", "flat_field_pattern"]

UINT16_MAX = 65535


@dataclass(frozen=True)
class DetectorModel:
    """Constants of the source + detector chain (see the module docstring for units)."""

    photons_per_ua_s: float = 3200.0
    reference_kv: float = 60.0
    reference_sdd_um: float = 250_000.0
    dark_offset_adu: float = 100.0
    dark_current_adu_per_s: float = 2.0
    read_noise_adu: float = 1.6
    vignetting: float = 0.12
    heel_effect: float = 0.04
    prnu: float = 0.01

    def open_beam_photons(self, kv: float, ua: float, exposure_s: float, sdd_um: float) -> float:
        """Mean detected photons per unbinned pixel without sample (N0).

        Parameters
        ----------
        kv, ua : float
            Tube voltage (kV) and current (µA).
        exposure_s : float
            Exposure time (s).
        sdd_um : float
            Source–detector distance (µm).

        Returns
        -------
        float
        """
        if min(kv, ua, exposure_s, sdd_um) <= 0:
            raise ValueError(
                f"kv, ua, exposure_s and sdd_um must be positive, got {kv}, {ua}, "
                f"{exposure_s}, {sdd_um}"
            )
        return (
            self.photons_per_ua_s
            * ua
            * exposure_s
            * (kv / self.reference_kv) ** 2
            * (self.reference_sdd_um / sdd_um) ** 2
        )


def flat_field_pattern(
    shape: tuple[int, int], binning: int, model: DetectorModel, seed: int
) -> np.ndarray:
    """Relative open-beam intensity of each binned pixel (float32 ``shape``, ≈ 1 at centre).

    A smooth part (quadratic vignetting toward the corners, a linear heel-effect ramp
    along the rows) times a fixed pixel-response non-uniformity of relative standard
    deviation ``model.prnu / binning`` (b² pixels averaged), drawn from ``seed`` (a
    property of the instrument, not of the scan).
    """
    rows, cols = (int(n) for n in shape)
    if rows < 1 or cols < 1 or binning < 1:
        raise ValueError(f"shape and binning must be positive, got {shape}, {binning}")
    v = np.linspace(-1.0, 1.0, rows, dtype=np.float32)[:, None]
    u = np.linspace(-1.0, 1.0, cols, dtype=np.float32)[None, :]
    smooth = (1.0 - model.vignetting * 0.5 * (u**2 + v**2)) * (1.0 + model.heel_effect * v)
    rng = np.random.default_rng([int(seed), 0xF1A7, int(binning)])
    prnu = 1.0 + (model.prnu / binning) * rng.standard_normal((rows, cols), dtype=np.float32)
    return (smooth * prnu).astype(np.float32)


def expose(
    line_integral: np.ndarray | None,
    *,
    open_beam_photons: float,
    flat: np.ndarray,
    exposure_s: float,
    binning: int,
    model: DetectorModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """One noisy detector frame.

    Parameters
    ----------
    line_integral : numpy.ndarray or None
        ``∫ μ dl`` per binned pixel (float ``[rows, cols]``); zeros for a flat field,
        ``None`` for a dark frame (beam off).
    open_beam_photons : float
        N0, photons per unbinned pixel (:meth:`DetectorModel.open_beam_photons`).
    flat : numpy.ndarray
        Flat-field pattern (:func:`flat_field_pattern`), same shape as the frame.
    exposure_s : float
        Exposure (s), for the dark current.
    binning : int
        Detector binning b (b × b pixels averaged).
    model : DetectorModel
    rng : numpy.random.Generator
        Noise source (the caller seeds it for reproducibility).

    Returns
    -------
    numpy.ndarray
        uint16 ``[rows, cols]`` in ADU.
    """
    b2 = float(binning * binning)
    if line_integral is None:
        signal = np.zeros(flat.shape, dtype=np.float32)
    else:
        if line_integral.shape != flat.shape:
            raise ValueError(
                f"line_integral shape {line_integral.shape} differs from flat {flat.shape}"
            )
        expected = (open_beam_photons * b2) * flat * np.exp(-line_integral.astype(np.float32))
        signal = rng.poisson(expected).astype(np.float32)
        signal /= np.float32(b2)
    dark = model.dark_offset_adu + model.dark_current_adu_per_s * exposure_s
    noise = rng.standard_normal(flat.shape, dtype=np.float32)
    signal += np.float32(dark) + np.float32(model.read_noise_adu / binning) * noise
    np.rint(signal, out=signal)
    np.clip(signal, 0, UINT16_MAX, out=signal)
    return signal.astype(np.uint16)
