"""AutoStack: the GitHub App that turns merges and PR comments into GitOps deployments."""
