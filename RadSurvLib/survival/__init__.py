"""Survival statistics: radiomics signatures and their evaluation (Liu et al. 2025).

Modules:
    data       read and join feature/clinical tables; check (time in days, event); clean features
    cox        univariate Cox screening, Lasso-Cox with CV, Breslow baseline (NumPy)
    signature  fit / save / load / apply a signature bundle (``signature.json``)
    metrics    Harrell's and Uno's C, td-AUC, KM/log-rank/HR, calibration, decision curves
    binary     DeLong test of two AUCs, accuracy/AUC/sensitivity/specificity, logistic-regression and
               random-forest baselines with stratified K-fold CV (scikit-learn)
    baselines  tumour volume / size, clinical and signature + clinical Cox baselines and the logistic /
               random-forest baselines, fitted on the signature's folds; paired comparison with it
    calibration  calibration of survival and of binary probabilities: plain for out-of-sample predictions,
               optimism-corrected (bootstrap) for an apparent fit
    subgroups  hazard ratios per subgroup and interaction p (forest plot)
    plots      the figures (matplotlib Figures)
    report     ``evaluate(...)`` (statistics + figures), the evaluation folder, ``write_report``
    report_document  the report's sections and their HTML and PDF renderings
    (``RadSurvLib/cli/survival.py``: ``radsurv signature fit|apply``, ``evaluate``, ``report``, ``baseline``)

Heavy dependencies (pandas, lifelines, scipy, matplotlib, scikit-learn) are imported inside the functions.
"""
