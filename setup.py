"""Ships ``slimcls_tfslim_names.pth`` in the wheel and in editable installs.

Everything else is declared in pyproject.toml. The ``.pth`` file makes TF-Slim's import
names (``from nets import nets_factory``) resolve to slimcls's packages without installing
anything named ``nets``/``preprocessing``/``datasets`` (see ``_slimcls_tfslim_names.py``).
setuptools has no declarative way to put a file at the root of site-packages, hence:

* ``build_py`` writes it into ``build_lib``, so a regular wheel (and sdist->wheel) has it;
* ``editable_wheel`` (PEP 660, ``pip install -e .``) ignores ``build_lib`` in its default
  mode, so the finished editable wheel gets the file (and its RECORD line) added.
"""

import base64
import hashlib
import os
import zipfile
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PTH_NAME = "slimcls_tfslim_names.pth"
# Sorted after setuptools' "__editable__.*.pth", whose finder must already be in place to
# import the module in editable installs.
PTH_TEXT = "import _slimcls_tfslim_names; _slimcls_tfslim_names.install()\n"


class BuildPyWithPth(build_py):
    """build_py that also writes the ``.pth`` file at the root of ``build_lib``."""

    def run(self):
        super().run()
        if not self.editable_mode:
            path = Path(self.build_lib, PTH_NAME)
            path.write_text(PTH_TEXT, encoding="utf-8")
            self._pth_output = str(path)

    def get_outputs(self, *args, **kwargs):
        outputs = list(super().get_outputs(*args, **kwargs))
        extra = getattr(self, "_pth_output", None)
        return outputs + [extra] if extra else outputs


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def add_pth_to_wheel(wheel_path):
    """Rewrites ``wheel_path`` with the ``.pth`` file at its root and listed in RECORD."""
    data = PTH_TEXT.encode("utf-8")
    with zipfile.ZipFile(wheel_path) as src:
        if PTH_NAME in src.namelist():
            return
    tmp_path = f"{wheel_path}.tmp"
    with zipfile.ZipFile(wheel_path) as src, zipfile.ZipFile(tmp_path, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                lines = content.decode("utf-8").splitlines()
                lines.insert(0, _record_line(PTH_NAME, data))
                content = ("\n".join(lines) + "\n").encode("utf-8")
            dst.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
        dst.writestr(PTH_NAME, data, compress_type=zipfile.ZIP_DEFLATED)
    os.replace(tmp_path, wheel_path)


cmdclass = {"build_py": BuildPyWithPth}

try:
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:  # setuptools < 64 has no PEP 660 editable installs
    editable_wheel = None

if editable_wheel is not None:

    class EditableWheelWithPth(editable_wheel):
        """editable_wheel whose wheel also carries the ``.pth`` file."""

        def run(self):
            super().run()
            for wheel_path in Path(self.dist_dir).glob("*editable*.whl"):
                add_pth_to_wheel(wheel_path)

    cmdclass["editable_wheel"] = EditableWheelWithPth

# TF-Slim's layout: nets/, preprocessing/ and datasets/ are top-level folders of the repository,
# installed as slimcls.nets, slimcls.preprocessing and slimcls.datasets (never as top-level
# packages; docs/design.md says why). find_packages keeps the list in step with the folders.
MAPPED = ("nets", "preprocessing", "datasets")
PACKAGES = find_packages(include=["slimcls", "slimcls.*"]) + [
    f"slimcls.{name}"
    for top in MAPPED
    for name in [top, *(f"{top}.{sub}" for sub in find_packages(top))]
]

setup(
    cmdclass=cmdclass,
    packages=PACKAGES,
    package_dir={f"slimcls.{top}": top for top in MAPPED},
)
