"""``autostack aws setup``: the AWS side of an app's build (ECR repository, GitHub OIDC
provider, push role) and the repository variable that points the build workflow at it.

The pure part decides (``desired``, ``policies``, ``plan``, ``explain``, ``render``); the
adapters under ``bot/cloud/adapters/`` are the only code that talks to AWS (boto3) or GitHub.
"""
