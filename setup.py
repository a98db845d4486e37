"""Packaging lives in setup.cfg; this file lets older tools install it too,
and lists the shipped presets, which setup.cfg cannot gather recursively."""

import os

from setuptools import setup


def shipped_presets():
    """The files of saved_models/<preset>/, as data files under
    share/memzoo/: where `memzoo.models.presets.saved_models_dir()` finds
    them in an installed memzoo."""
    return [
        (os.path.join("share", "memzoo", folder),
         [os.path.join(folder, name) for name in sorted(names)])
        for folder, _, names in sorted(os.walk("saved_models"))
        # Not a preset half written by `memzoo.shipping` (".name.tmp-...").
        if names and "/." not in folder
    ]


setup(data_files=shipped_presets())
