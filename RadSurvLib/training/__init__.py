"""Training utilities: Cox loss, concordance indices, the synthetic cohort and the demo model.

- ``cox_partial_likelihood_loss``: Cox negative log partial likelihood (Breslow ties), torch.
- ``harrell_c_index`` / ``pairwise_concordance``: evaluation, NumPy.
- ``synthetic``: synthetic tumours with a known hazard inserted into a real CT.
- ``demo``: trains the shipped demonstration bundle (``python -m RadSurvLib.training.demo``).
- ``cohort``: synthetic cohorts on disk (size, texture and necrosis drive the hazard; ``--shift`` target).
- ``manifest``: the cohort manifest CSV and its bad-row reporting; ``cache``: preprocessed model inputs.
- ``augment``: Liu et al. Table 1 augmentations; ``loop``: training with checkpoints and resume;
  ``report``: JSON + PNG training report; ``commands``: ``radsurv train|finetune|deep-features|synth-cohort``.

Torch is imported inside the functions, so importing this package is light.
"""

from __future__ import annotations


def cox_partial_likelihood_loss(risk, time, event):
    """Cox negative log partial likelihood with Breslow's handling of tied times, averaged over events.

    ``loss = -1/n_events * sum_{i: event} [ r_i - log sum_{j: t_j >= t_i} exp(r_j) ]``: every event at a
    tied time shares the full risk set (Breslow 1974). Source: Cox 1972; Liu et al. 2025 train with it.

    Args:
        risk: float tensor ``[N]`` of log hazard ratios (model output).
        time: tensor ``[N]`` of observed times (any unit).
        event: tensor ``[N]`` (bool or 0/1), 1 = event observed.

    Returns:
        Scalar tensor; ``0 * risk.sum()`` (keeps the graph) when there is no event.
    """
    import torch

    risk = risk.reshape(-1)
    time = time.reshape(-1).to(risk.device)
    event = event.reshape(-1).to(risk.device).bool()
    if not bool(event.any()):
        return risk.sum() * 0.0
    at_risk = time[None, :] >= time[:, None]  # row i: the risk set of subject i
    masked = risk[None, :].expand_as(at_risk).masked_fill(~at_risk, float("-inf"))
    log_denominator = torch.logsumexp(masked, dim=1)
    return -(risk - log_denominator)[event].mean()


def harrell_c_index(time, event, risk) -> float:
    """Harrell's concordance index of a risk score against censored survival data.

    A pair (i, j) is comparable when ``t_i < t_j`` and subject i had the event; it is concordant when
    ``risk_i > risk_j``; tied risks count 1/2. Pairs with tied times are not comparable.

    Args:
        time, event, risk: array-likes ``[N]`` (event 1 = observed).

    Returns:
        C-index in [0, 1] (0.5 = random); NaN when no pair is comparable.
    """
    import numpy as np

    time, risk = np.asarray(time, float), np.asarray(risk, float)
    event = np.asarray(event).astype(bool)
    comparable = (time[:, None] < time[None, :]) & event[:, None]
    score = (risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :])
    n = comparable.sum()
    return float((score * comparable).sum() / n) if n else float("nan")


def pairwise_concordance(predicted, truth) -> float:
    """Fraction of pairs ordered alike by ``predicted`` and ``truth`` (pairs tied in truth skipped; ties in
    ``predicted`` count 1/2) = (1 + Kendall's tau-b-like) / 2. Used against the true synthetic log hazard."""
    import numpy as np

    predicted, truth = np.asarray(predicted, float), np.asarray(truth, float)
    ordered = truth[:, None] > truth[None, :]
    score = (predicted[:, None] > predicted[None, :]) + 0.5 * (predicted[:, None] == predicted[None, :])
    n = ordered.sum()
    return float((score * ordered).sum() / n) if n else float("nan")
