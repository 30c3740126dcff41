"""The whole Orchard flow on one machine: template.yaml provisioned in moto, real handlers, local Spark."""
