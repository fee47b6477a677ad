"""Adapters to the outside world: the poker room and the payment providers.

Each subpackage defines one interface and its implementations; services depend
on the interface only, and the implementation is chosen from config.
"""
