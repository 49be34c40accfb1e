"""Greenzone test suite."""
