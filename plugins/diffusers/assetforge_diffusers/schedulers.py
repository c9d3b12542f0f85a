"""Scheduler names a manifest may use, and the diffusers class + config overrides of each.

A scheduler is built with ``Class.from_config(model_default.config, **overrides)``, so the
model's own betas and prediction type are kept. Overrides name every sigma/solver switch
explicitly: a model whose default config has ``use_karras_sigmas = true`` must not turn
plain ``dpmpp_2m`` into the Karras variant behind the user's back.

SD3 is a flow-matching model; only the flow-matching schedulers below apply to it.
"""

from __future__ import annotations

from typing import Any

from assetforge.api import did_you_mean

DEFAULT = "default"  # the scheduler the model ships with

_PLAIN = {"use_karras_sigmas": False, "use_exponential_sigmas": False, "use_beta_sigmas": False}
_KARRAS = dict(_PLAIN, use_karras_sigmas=True)
_DPM = {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_lu_lambdas": False,
        "use_flow_sigmas": False}

# name -> (class name, overrides), for the epsilon/v-prediction families (SD 1.x/2.x, SDXL)
DIFFUSION: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", _PLAIN),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", _PLAIN),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {**_DPM, **_PLAIN}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {**_DPM, **_KARRAS}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler",
                     {**_DPM, **_PLAIN, "algorithm_type": "sde-dpmsolver++"}),
    "dpmpp_2m_sde_karras": ("DPMSolverMultistepScheduler",
                            {**_DPM, **_KARRAS, "algorithm_type": "sde-dpmsolver++"}),
    "unipc": ("UniPCMultistepScheduler", {**_PLAIN, "use_flow_sigmas": False}),
}
# ... and for flow matching (SD3)
FLOW: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("FlowMatchEulerDiscreteScheduler", {**_PLAIN, "stochastic_sampling": False}),
    "heun": ("FlowMatchHeunDiscreteScheduler", {}),
}
FLOW_FAMILIES = ("sd3",)
NAMES: tuple[str, ...] = (DEFAULT, *DIFFUSION)


def table(family: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return FLOW if family in FLOW_FAMILIES else DIFFUSION


def validate_scheduler(name: str, family: str) -> str | None:
    """An error message when ``name`` cannot be used with a ``family`` model, else None."""
    if name == DEFAULT or name in table(family):
        return None
    if name not in NAMES:
        return f"unknown scheduler {name!r}{did_you_mean(name, NAMES)}; known: {', '.join(NAMES)}"
    valid = ", ".join((DEFAULT, *table(family)))
    return (f"scheduler {name!r} does not work with {family} models (flow matching); "
            f"use one of: {valid}")


def spec(name: str, family: str) -> tuple[str | None, dict[str, Any]]:
    """(class name or None for the model's own, overrides); ValueError when invalid."""
    error = validate_scheduler(name, family)
    if error:
        raise ValueError(error)
    if name == DEFAULT:
        return None, {}
    cls, overrides = table(family)[name]
    return cls, dict(overrides)
