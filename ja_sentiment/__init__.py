"""Shared library of the JRTE pn.tsv sentiment pipeline, one module per concern.

params (the params.yaml schema), data (file paths, the processed splits), corpus (reading and
validating pn.tsv), predictions (per-model prediction files), metrics, hardware (device, native
bf16), models (loading a classifier), provenance (which model a result comes from), inference
(batched classification), training (the finetune stage's Trainer set-up), checkpoints (kill-safe
epoch checkpoints), stats (intervals, paired comparisons, seed aggregates), calibration (ECE,
temperature scaling), reports (the report builders, one module per report: the stages' markdown,
plots and metrics files, the study's and the pull request's). The DVC stages in stages/
import these modules, and dvc.yaml lists for each stage exactly the ones it imports. tools/ holds
the command-line tools that are not stages.
"""
