"""Narrowing for tests that read one target's own fields: make_plan returns any target's plan and
verify the shared report; these assert the Linux kind (a wrong kind fails the test) and type it."""

from __future__ import annotations

from builder.lifecycle.verify import PackageReport
from builder.plan import BuildPlan, Plan
from builder.steps import VerifyReport


def linux_plan(plan: Plan) -> BuildPlan:
    assert isinstance(plan, BuildPlan), f"expected a Linux plan, got {type(plan).__name__}"
    return plan


def package_report(report: VerifyReport) -> PackageReport:
    assert isinstance(report, PackageReport), f"expected a package report, got {type(report).__name__}"
    return report
