"""Packaging lives in setup.cfg; this file lets older tools install it too."""

from setuptools import setup

setup()
