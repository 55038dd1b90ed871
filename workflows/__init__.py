"""Temporal workflows: they orchestrate, and do nothing else."""

from workflows.partnership import PartnershipWorkflow

__all__ = ["PartnershipWorkflow"]
