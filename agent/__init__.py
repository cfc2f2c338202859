"""The in-cluster agent: fetch desired state, translate, apply, prune, detect drift, report.

It runs with no database and never imports models.
"""
