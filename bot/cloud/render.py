"""The text ``autostack aws setup`` prints: the plan, problems, steps left to the user and a
summary of what each app gets (pure: values in, lines out). No secret is ever part of it:
the plan holds names, ARNs and policies only."""

from __future__ import annotations

from bot.cloud.desired import Account, Desired
from bot.cloud.plan import Observed, Plan, role_arn


def header(account: Account, caller: str) -> list[str]:
    return [f"AWS account {account.id}, region {account.region}, as {caller}"]


def plan_lines(plan: Plan) -> list[str]:
    if plan.empty:
        return ["Nothing to change."]
    count = len(plan.changes)
    lines = [f"Plan: {count} change{'s' if count != 1 else ''}"]
    for change in plan.changes:
        mark = "+" if type(change).__name__.startswith("Create") else "~"
        lines.append(f"  {mark} {change.description}")
    return lines


def problem_lines(plan: Plan) -> list[str]:
    if not plan.problems:
        return []
    return ["Problems this command does not fix:"] + [
        f"  ! {problem.description}" for problem in plan.problems
    ]


def manual_lines(plan: Plan) -> list[str]:
    if not plan.manual:
        return []
    lines = ["Left to do by hand:"]
    for step in plan.manual:
        lines += [f"  - {step.description}:", f"      {step.command}"]
    return lines


def summary_lines(desired: Desired, observed: Observed) -> list[str]:
    """Per app repository: where its images go and the role its build assumes."""
    lines = []
    for role in desired.roles:
        images = ", ".join(r.uri for r in desired.repositories if r.name in role.repositories)
        lines.append(f"{role.source_repo}: pushes {images} as {role_arn(role, observed)}")
    return lines
