"""Exceptions raised for user errors.

Every user-facing error is one of these, with a message that names the column,
value or option at fault, so that users never see a traceback from inside PyTensor.
"""


class MlmixError(ValueError):
    """Base class of all mlmix_pymc user errors (a ``ValueError``)."""


class SpecificationError(MlmixError):
    """The model specification is invalid (bad option, duplicate name, n_classes < 1...)."""


class DataError(MlmixError):
    """The data do not fit the specification (unknown column, non-numeric value...)."""


class EstimationError(MlmixError):
    """Estimation could not proceed (for example every random start failed)."""


class MplusSyntaxError(SpecificationError):
    """An Mplus input file (``.inp``) cannot be read: a malformed statement, an unknown
    variable or option; the message names the statement and its line number."""


class UnsupportedMplusStatement(MplusSyntaxError):
    """A well-formed Mplus statement that mlmix_pymc cannot fit (named, with its line number)."""
