"""Anatomical sites the phantom can model, with their geometry and trabecular targets.

Figures are for adult (12–16 week) female C57BL/6 mice. Trabecular BV/TV: proximal
tibia metaphysis ≈ 10–20 %, distal femur metaphysis ≈ 8–15 %, L5 vertebral body
≈ 20–30 %, caudal vertebra 6 ≈ 15–25 % (the in vivo micro-CT model of Schulte et al.,
Bone 2011;48:433); Tb.Th 30–70 µm, Tb.Sp 150–300 µm (Bouxsein et al., JBMR
2010;25:1468, and the reference ranges quoted there). Every site of
``studies.vocabulary.AnatomicalSite`` has an entry.

Measured on 128³ phantoms at 10 µm (seeds 1, 3, 7; parallel-plate model Tb.Th =
2·BV/BS with BS from a marching-cubes surface, Tb.Sp = Tb.Th·(TV/BV − 1)): tibia
Tb.Th 34–44 µm, Tb.Sp 177–233 µm; L5 43–49 µm, 153–173 µm; caudal vertebra 41–48 µm,
164–192 µm; femur ≈ 29–38 µm, 210–280 µm (``tests/acquisition/test_phantom.py``
checks the ranges). The outline shrinks to fit smaller fields of view but the
trabecular scale does not, so use at least 128³ voxels of 10 µm: a 96³ phantom's
marrow cavity holds only a few trabeculae.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SITES", "SiteAnatomy", "site_anatomy"]


@dataclass(frozen=True)
class SiteAnatomy:
    """Geometry of one site (µm) and the targets of its trabecular network.

    Attributes
    ----------
    periosteal_radii_um : tuple of float
        Semi-axes (x, y) of the elliptical periosteal surface at mid-height.
    cortical_thickness_um : float
        Thickness of the cortical shell.
    flare : float
        Relative growth of the radii from the bottom (z min) to the top (z max) of the
        volume (metaphyseal flare toward the growth plate; 0 for a straight shaft).
    soft_tissue_radii_um : tuple of float
        Semi-axes (x, y) of the surrounding soft tissue (limb or body wall).
    bv_tv : float
        Target trabecular bone volume fraction in the marrow compartment.
    field_sigma_um : float
        Correlation length (Gaussian σ, in x and y) of the random field whose level band
        forms the trabeculae; sets Tb.Sp, and with ``bv_tv`` also Tb.Th.
    anisotropy : float
        Ratio of the field's σ along z to σ in x/y (> 1: trabeculae aligned with the
        long axis, as in the tibia and the vertebral body).
    """

    periosteal_radii_um: tuple[float, float]
    cortical_thickness_um: float
    flare: float
    soft_tissue_radii_um: tuple[float, float]
    bv_tv: float
    field_sigma_um: float
    anisotropy: float


_TIBIA = SiteAnatomy(
    periosteal_radii_um=(800.0, 650.0),
    cortical_thickness_um=70.0,
    flare=0.15,
    soft_tissue_radii_um=(1500.0, 1300.0),
    bv_tv=0.16,
    field_sigma_um=120.0,
    anisotropy=1.6,
)

_FEMUR = SiteAnatomy(
    periosteal_radii_um=(1000.0, 750.0),
    cortical_thickness_um=80.0,
    flare=0.25,
    soft_tissue_radii_um=(2000.0, 1700.0),
    bv_tv=0.12,
    field_sigma_um=140.0,
    anisotropy=1.5,
)

SITE_ANATOMY: dict[str, SiteAnatomy] = {
    "tibia-left-proximal": _TIBIA,
    "tibia-right-proximal": _TIBIA,
    "femur-left-distal": _FEMUR,
    "femur-right-distal": _FEMUR,
    "L5-vertebra": SiteAnatomy(
        periosteal_radii_um=(750.0, 550.0),
        cortical_thickness_um=50.0,
        flare=0.0,
        soft_tissue_radii_um=(1800.0, 1500.0),
        bv_tv=0.22,
        field_sigma_um=110.0,
        anisotropy=1.4,
    ),
    "caudal-vertebra-6": SiteAnatomy(
        periosteal_radii_um=(600.0, 550.0),
        cortical_thickness_um=50.0,
        flare=0.0,
        soft_tissue_radii_um=(1000.0, 950.0),
        bv_tv=0.20,
        field_sigma_um=110.0,
        anisotropy=1.5,
    ),
}

SITES: tuple[str, ...] = tuple(SITE_ANATOMY)
"""Anatomical site vocabulary (import this rather than spelling the names)."""


def site_anatomy(site: str) -> SiteAnatomy:
    """The anatomy of ``site``; raises ``ValueError`` naming the known sites."""
    try:
        return SITE_ANATOMY[site]
    except KeyError:
        raise ValueError(f"site must be one of {', '.join(SITES)}; got {site!r}") from None
