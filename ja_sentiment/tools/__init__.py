"""Command-line tools that are not pipeline stages: predict (`sentiment-predict`, new text), standins
(offline stand-in models), pr_report (the pull-request report), seeds (a configuration over seeds),
dvc_cli (how the tools run `dvc`)."""
