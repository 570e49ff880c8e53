"""Deployments from request to verdict: records, landing on the GitOps repo, reporting."""
