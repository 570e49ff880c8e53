"""Pure "app source tree -> files" transforms: stack detection, Dockerfile, build workflow,
Kustomize base and overlays, Argo CD Applications. Used by the CLI and by the bot."""
