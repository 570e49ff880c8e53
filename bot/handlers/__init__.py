"""Feature handlers, one module per feature, each with its own router; ``router()``
composes them for the app."""

from __future__ import annotations

from bot.router import HandlerContext, Router
from bot.services import Services


def services_of(ctx: HandlerContext) -> Services:
    services = ctx.extras.get("services")
    if not isinstance(services, Services):
        raise RuntimeError("handlers need ctx.extras['services']; see bot.wiring")
    return services


def router() -> Router:
    from bot.handlers import builds, commands, gitops_prs, install

    return Router.merge(commands.router, builds.router, gitops_prs.router, install.router)
