"""Backends that run attempts. All container-engine calls live in this package."""
