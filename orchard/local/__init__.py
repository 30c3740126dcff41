"""The whole Orchard flow on one machine: template.yaml provisioned in moto, real handlers, local Spark."""

from pathlib import Path

# The checkout whose template, definition, handlers and job the local stack runs.
REPO = Path(__file__).resolve().parents[2]
