"""Orchard's run contract, in one place: what the job writes and where, what every other component reads.

Zero dependencies (the standard library only), so the job image, the Lambdas (through a layer), the local
stack and the tests all import the same module. Adding a column is one edit in `tables` plus the job code
that fills it.
"""
