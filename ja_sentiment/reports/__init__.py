"""The report builders, one module per report: error_analysis (Level 3: reports/error_analysis.md,
its plots and metrics), evaluate (classification reports, confusion matrices, reliability diagrams),
summary (reports/summary.md and the learning curve), study (a Level 4 study's report and pictures),
pr (the pull-request report); and what they share: text (every sentence of the reports, in English
and Japanese) and markdown (tables, numbers with intervals, paired-comparison rows).

Nothing is imported here, so that a stage's deps in dvc.yaml list only the report modules it uses.
"""
