"""Survival statistics: radiomics signatures and their evaluation (Liu et al. 2025).

Modules:
    data       read and join feature/clinical tables; check (time in days, event); clean features
    cox        univariate Cox screening, Lasso-Cox with CV, Breslow baseline (NumPy)
    signature  fit / save / load / apply a signature bundle (``signature.json``)
    metrics    Harrell's and Uno's C, td-AUC, KM/log-rank/HR, calibration, decision curves
    binary     DeLong test of two AUCs, accuracy/AUC/sensitivity/specificity, logistic-regression and
               random-forest baselines with stratified K-fold CV (scikit-learn)
    plots      the figures (matplotlib)
    report     evaluation folder and the HTML report
    commands   ``radsurv signature fit|apply``, ``radsurv evaluate``, ``radsurv report``, ``radsurv baseline``

Heavy dependencies (pandas, lifelines, scipy, matplotlib, scikit-learn) are imported inside the functions.
"""
