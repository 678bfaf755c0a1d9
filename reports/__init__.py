"""Reports: turn run directories into tables, paper tables, HTML pages and CI regression verdicts.

Everything here reads run directories (``manifest.json`` + ``results.jsonl``) and never recomputes a metric:
computing is the suites' job, rendering is ours.
"""
