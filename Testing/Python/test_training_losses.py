"""The Cox loss (Breslow and Efron ties) against lifelines' and torchsurv's partial likelihoods and a loop
written from the definitions, on survival data with many tied times."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def tied_data(n=60, seed=0):
    """Integer times 1-8 (many ties), ~70 % events, one covariate that raises the hazard."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    time = np.minimum(8, np.ceil(rng.exponential(3.0 * np.exp(-0.8 * x)))).astype(float)
    event = (rng.random(n) < 0.7).astype(int)
    return x, time, event


def ref_loglik(risk, time, event, ties):
    """Partial log likelihood by loops over the distinct event times (Breslow 1974; Efron 1977)."""
    total = 0.0
    for t in np.unique(time[event == 1]):
        tied = (time == t) & (event == 1)
        d = int(tied.sum())
        at_risk = np.exp(risk[time >= t]).sum()
        tied_sum = np.exp(risk[tied]).sum()
        total += risk[tied].sum()
        for l in range(d):
            total -= math.log(at_risk - (l / d if ties == "efron" else 0.0) * tied_sum)
    return total


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cox_loss_equals_the_definition_with_ties(ties):
    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    x, time, event = tied_data()
    risk = 0.7 * x
    loss = cox_partial_likelihood_loss(torch.tensor(risk), torch.tensor(time), torch.tensor(event), ties=ties)
    assert float(loss) * event.sum() == pytest.approx(-ref_loglik(risk, time, event, ties), abs=1e-9)


def test_efron_loss_matches_lifelines_partial_likelihood():
    """lifelines' CoxPHFitter maximises Efron's partial likelihood; at its fitted coefficient our Efron loss
    times the number of events is minus its log likelihood (lifelines has no Breslow-ties likelihood)."""
    pd = pytest.importorskip("pandas")
    from lifelines import CoxPHFitter

    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    x, time, event = tied_data()
    assert len(np.unique(time[event == 1])) < event.sum() / 3  # heavily tied
    fitter = CoxPHFitter().fit(pd.DataFrame({"x": x, "T": time, "E": event}), "T", "E")
    risk = torch.tensor(float(fitter.params_["x"]) * x)
    ours = float(cox_partial_likelihood_loss(risk, torch.tensor(time), torch.tensor(event), ties="efron"))
    assert -ours * event.sum() == pytest.approx(fitter.log_likelihood_, abs=1e-6)
    breslow = float(cox_partial_likelihood_loss(risk, torch.tensor(time), torch.tensor(event), ties="breslow"))
    assert abs(breslow - ours) > 1e-3  # the ties matter on these data


@pytest.mark.filterwarnings("ignore:Ties in")
@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cox_loss_matches_torchsurv(ties):
    """torchsurv sums in float32 internally, hence a relative 1e-6."""
    pytest.importorskip("torchsurv")
    from torchsurv.loss.cox import neg_partial_log_likelihood

    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    x, time, event = tied_data(seed=3)
    risk = torch.tensor(0.5 * x - 0.2)
    ref = neg_partial_log_likelihood(risk[:, None], torch.tensor(event).bool(), torch.tensor(time),
                                     ties_method=ties, reduction="sum")
    ours = cox_partial_likelihood_loss(risk, torch.tensor(time), torch.tensor(event), ties=ties) * event.sum()
    assert float(ours) == pytest.approx(float(ref), rel=1e-6)


def test_without_ties_breslow_equals_efron_and_gradients_flow():
    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    g = torch.Generator().manual_seed(0)
    risk = torch.randn(20, generator=g, dtype=torch.float64, requires_grad=True)
    time, event = torch.randperm(20, generator=g).double() + 1, (torch.rand(20, generator=g) < 0.7).double()
    breslow = cox_partial_likelihood_loss(risk, time, event)
    efron = cox_partial_likelihood_loss(risk, time, event, ties="efron")
    assert float(breslow) == pytest.approx(float(efron), abs=1e-12)
    tied = torch.ones(20, dtype=torch.float64)  # everyone dies at the same time
    loss = cox_partial_likelihood_loss(risk, tied, torch.ones(20), ties="efron")
    loss.backward()
    assert torch.isfinite(risk.grad).all() and risk.grad.abs().sum() > 0
    assert float(cox_partial_likelihood_loss(risk, time, torch.zeros(20), ties="efron")) == 0.0


def test_unknown_ties_is_refused():
    from RadSurvLib.errors import InputError
    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    with pytest.raises(InputError, match="ties"):
        cox_partial_likelihood_loss(torch.zeros(3), torch.ones(3), torch.ones(3), ties="exact")
