"""Errors a learner can act on: each message says what went wrong and what to do instead."""

from __future__ import annotations

import warnings


class CourseError(Exception):
    """Base of the course's own errors: shown in notebooks as one readable line."""


class UnknownModelError(CourseError, ValueError):
    """A model name that is not in the catalog (the message lists close names)."""


class ModelTooLargeError(CourseError):
    pass


class OfflineError(CourseError):
    pass


class GatedModelError(CourseError):
    """A hub model behind a licence click-through: the message says how to get access, or what to use instead."""


class UnsafeWeightsError(CourseError):
    """Weights in a format that can run code when loaded (pickle): refused."""


class DeviceError(CourseError):
    pass


class BadInputError(CourseError, ValueError):
    pass


class CourseModelsMissingError(CourseError):
    pass


class MissingLibraryError(CourseError, ImportError):
    """An optional library (torchao, bitsandbytes) is not installed; the message says how to install it."""


def show_friendly_errors(ipython=None) -> bool:
    """In IPython/Jupyter, show course errors as one readable line instead of a traceback.

    Other exceptions keep their full traceback. Returns True when installed.
    """
    if ipython is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        ipython = get_ipython()
    if ipython is None:
        return False

    def handler(shell, etype, value, tb, tb_offset=None):
        print(f"⚠ {etype.__name__}: {value}")
        return None

    ipython.set_custom_exc((CourseError,), handler)
    # trio (imported later by the hub's HTTP client) warns that it sees this handler and skips its own, which
    # only changes how trio's exception groups print: not a learner's concern
    warnings.filterwarnings("ignore", message="IPython detected, but you already have a custom exception handler",
                            category=RuntimeWarning)
    return True
