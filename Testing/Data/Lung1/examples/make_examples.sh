#!/usr/bin/env bash
# Rebuild the example reports of this folder from Testing/Data/Lung1 (5-fold CV, 1000 bootstraps).
# Usage: Testing/Data/Lung1/examples/make_examples.sh [work folder]   (run from the repository root)
set -euo pipefail
here=Testing/Data/Lung1
work=${1:-$(mktemp -d)}
radsurv=${RADSURV:-.venv/bin/radsurv}
$radsurv signature fit --features $here/extracted_features.csv.gz \
    --clinical $here/NSCLC-Radiomics-Lung1.clinical-version3-Oct-2019.csv --cv 5 --seed 0 --out "$work/signature"
$radsurv evaluate --predictions "$work/signature/predictions.csv" --out "$work/eval_os" --bootstrap 1000
$radsurv report --signature "$work/signature" --evaluation "$work/eval_os" \
    --out $here/examples/lung1_os_cv5.html --pdf $here/examples/lung1_os_cv5.pdf
$radsurv evaluate --predictions "$work/signature/predictions.csv" --out "$work/eval_2y" --bootstrap 1000 --death-by 2
$radsurv report --signature "$work/signature" --evaluation "$work/eval_2y" \
    --out $here/examples/lung1_death_by_2y_cv5.html --pdf $here/examples/lung1_death_by_2y_cv5.pdf
# Page pictures of the two PDFs (Debian's poppler-utils: pdftoppm), 1200 px wide
if command -v pdftoppm >/dev/null; then
    rm -f $here/examples/screenshots/*.png
    for report in lung1_os_cv5 lung1_death_by_2y_cv5; do
        pdftoppm -png -scale-to-x 1200 -scale-to-y -1 $here/examples/$report.pdf $here/examples/screenshots/$report
    done
fi
