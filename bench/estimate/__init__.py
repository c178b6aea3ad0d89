"""What runs will cost before they start: `--dry-run` of `gan-bench run` and `gan-bench study`.
Above the report (it reads records), the speed table and the study (it plans a study's runs)."""
