"""Training losses: the Cox negative log partial likelihood (Breslow or Efron ties) and binary cross-entropy.

Source: Cox 1972 (partial likelihood); Breslow 1974 and Efron 1977 (tied event times); Liu et al. 2025
train their SE-ResNet with the Cox loss.
"""

from __future__ import annotations

from ..errors import InputError

#: Ways of handling tied event times in ``cox_partial_likelihood_loss``.
TIES = ("breslow", "efron")


def cox_partial_likelihood_loss(risk, time, event, ties: str = "breslow"):
    """Cox negative log partial likelihood, averaged over the events.

    Breslow (default): every event at a tied time shares the full risk set,
    ``loss = -1/n_events * sum_{i: event} [ r_i - log sum_{j: t_j >= t_i} exp(r_j) ]``.

    Efron: the ``d`` events tied at a time ``t`` leave the risk set in ``d`` fractional steps,
    ``- sum_{l=0}^{d-1} log( sum_{j: t_j >= t} exp(r_j) - l/d * sum_{j in D(t)} exp(r_j) )``
    replaces their ``d`` Breslow log-denominators (``D(t)``: the events at ``t``). Without ties both agree.

    Args:
        risk: float tensor ``[N]`` of log hazard ratios (model output).
        time: tensor ``[N]`` of observed times (days; any unit works).
        event: tensor ``[N]`` (bool or 0/1), 1 = event observed.
        ties: ``"breslow"`` or ``"efron"``.

    Returns:
        Scalar tensor; ``0 * risk.sum()`` (keeps the graph) when there is no event.

    Raises:
        InputError: unknown ``ties``.
    """
    import torch

    if ties not in TIES:
        raise InputError(f"Cox loss: ties must be one of {', '.join(TIES)}, got {ties!r}.")
    risk = risk.reshape(-1)
    time = time.reshape(-1).to(risk.device)
    event = event.reshape(-1).to(risk.device).bool()
    if not bool(event.any()):
        return risk.sum() * 0.0
    at_risk = time[None, :] >= time[:, None]  # row i: the risk set of subject i
    log_risk_set = torch.logsumexp(risk[None, :].masked_fill(~at_risk, float("-inf")), dim=1)
    log_denominator = log_risk_set
    if ties == "efron":
        tied_events = (time[None, :] == time[:, None]) & event[None, :]  # row i: the events at t_i
        d = tied_events.sum(dim=1).clamp(min=1).to(risk.dtype)
        index = torch.arange(len(risk), device=risk.device)
        rank = (tied_events & (index[None, :] < index[:, None])).sum(dim=1).to(risk.dtype)  # l = 0 .. d-1
        log_tied = torch.logsumexp(risk[None, :].masked_fill(~tied_events, float("-inf")), dim=1)
        fraction = (rank / d) * torch.exp(log_tied - log_risk_set)  # < 1: the tied events are in the risk set
        log_denominator = log_risk_set + torch.log1p(-fraction.masked_fill(~event, 0.0))
    return -(risk - log_denominator)[event].mean()


def training_loss(endpoint: str, output, time_days, event, label=None, ties: str = "breslow"):
    """The loss of an endpoint: Cox (``"survival"``) or binary cross-entropy with logits (``"binary"``).

    Args:
        endpoint: ``"survival"`` or ``"binary"``.
        output: model output ``[B]`` (risk or logit).
        time_days, event: ``[B]`` survival data (survival endpoint).
        label: ``[B]`` 0/1 labels (binary endpoint).
        ties: tie handling of the Cox loss.
    """
    import torch.nn.functional as F

    if endpoint == "binary":
        return F.binary_cross_entropy_with_logits(output, label.to(output.device))
    return cox_partial_likelihood_loss(output, time_days, event, ties=ties)
