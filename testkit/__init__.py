"""Scaffolding for the tests, the benchmarks and the demo, run from a checkout.

Not installed with the product: it starts the Procfile's processes from the checkout's root
and reads its Procfile. No product package imports it.
"""
