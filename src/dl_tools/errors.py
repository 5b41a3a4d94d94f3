"""The exceptions of DL tools.

Every problem a user can fix (a missing file, a bad flag value, two files that disagree) raises an
``InputError`` whose message names the file or flag, the bad value and the fix. The command-line scripts print
such messages on one line as ``error: ...`` and exit with status 2.
"""


class DlToolsError(Exception):
    """Root of every error raised on purpose by DL tools."""


class InputError(DlToolsError, ValueError):
    """Bad input from the user: a file, a folder or a flag value. The message says how to fix it."""


class MissingDependencyError(DlToolsError, ImportError):
    """An optional dependency is not installed. The message says which package to install."""


def require(module_name: str, package: str, purpose: str):
    """Import and return ``module_name``, or raise MissingDependencyError naming the pip ``package`` to install.

    ``purpose`` completes the sentence "needed to ..." in the message.
    """
    import importlib

    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the Python package {package!r} is needed to {purpose}; install it with: pip install {package}"
        ) from exc
