"""Command-line tools that are not pipeline stages: predict (new text), standins (offline stand-in
models), pr_report (the pull-request report)."""
