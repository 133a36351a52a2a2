"""Subgroup analysis as a forest plot shows it (Liu et al. 2025): the hazard ratio of high vs low
risk within each subgroup (stage I-II / III, adenocarcinoma / squamous cell carcinoma, male /
female, age >= 65 / < 65) with its 95 % CI, Wald p and n, and per subgroup variable the p of the
interaction risk group x subgroup (Cox model ``high + member + high:member``, Wald test of the
product term): a small interaction p says the signature works differently in the two subgroups.

Times in days; lifelines ``CoxPHFitter`` (Efron ties) throughout.
"""

from __future__ import annotations

#: Subgroup variable -> the two subgroup names of :func:`.metrics.subgroup_masks`.
VARIABLES = {"stage": ("stage I-II", "stage III"), "histology": ("adenocarcinoma", "squamous cell carcinoma"),
             "sex": ("male", "female"), "age": ("age < 65", "age >= 65")}


def _cox_summary(df, term):
    from lifelines import CoxPHFitter

    fit = CoxPHFitter().fit(df, "T", "E")
    return fit.summary.loc[term]


def subgroup_hazard_ratios(frame) -> list:
    """Forest-plot rows for the subgroups present in ``frame``.

    Args:
        frame: predictions table (``time_days``, ``event``, ``risk_group`` high/low and the subgroup
            columns ``Overall.Stage``, ``Histology``, ``gender``, ``age``).

    Returns:
        list of dicts ``variable``, ``label``, ``n``, ``events``, ``n_high``, ``n_low``, ``hr``,
        ``hr_low``, ``hr_high``, ``p`` (None with ``note`` when not estimable: fewer than 4 patients,
        a risk group empty or without death), ``interaction_p`` (of the variable, on every row of
        it) and ``first_of_variable``.
    """
    import pandas as pd

    from .metrics import subgroup_masks

    masks = subgroup_masks(frame)
    time = frame["time_days"].to_numpy(float)
    event = frame["event"].to_numpy().astype(int)
    high = (frame["risk_group"].astype(str) == "high").to_numpy().astype(float)
    rows = []
    for variable, names in VARIABLES.items():
        if not all(n in masks for n in names):
            continue
        interaction = None
        both = masks[names[0]] | masks[names[1]]
        df = pd.DataFrame({"T": time[both], "E": event[both], "high": high[both],
                           "member": masks[names[1]][both].astype(float)})
        df["high_x_member"] = df["high"] * df["member"]
        try:
            if df.groupby(["high", "member"])["E"].sum().min() > 0 and len(df.groupby(["high", "member"])) == 4:
                interaction = float(_cox_summary(df, "high_x_member")["p"])
        except Exception:  # lifelines ConvergenceError on separated data: reported as not estimable
            interaction = None
        for i, name in enumerate(names):
            m = masks[name]
            row = {"variable": variable, "label": name, "n": int(m.sum()), "events": int(event[m].sum()),
                   "n_high": int(high[m].sum()), "n_low": int((1 - high[m]).sum()), "hr": None, "hr_low": None,
                   "hr_high": None, "p": None, "interaction_p": interaction, "first_of_variable": i == 0}
            ok = m.sum() >= 4 and event[m & (high > 0)].any() and event[m & (high == 0)].any()
            if ok:
                try:
                    s = _cox_summary(pd.DataFrame({"T": time[m], "E": event[m], "high": high[m]}), "high")
                    row.update({"hr": float(s["exp(coef)"]), "hr_low": float(s["exp(coef) lower 95%"]),
                                "hr_high": float(s["exp(coef) upper 95%"]), "p": float(s["p"])})
                except Exception:  # lifelines ConvergenceError: not estimable, said so
                    ok = False
            if not ok:
                row["note"] = "not estimable (too few patients or a risk group without death)"
            rows.append(row)
    return rows
