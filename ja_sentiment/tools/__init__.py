"""Command-line tools that are not pipeline stages: predict (`sentiment-predict`, new text), standins
(offline stand-in models), pr_report (the pull-request report), study (Level 4 over seeds, with its
runners study_queue and study_ray, and study_cache), dvc_cli (how the tools run `dvc` and `git`)."""
