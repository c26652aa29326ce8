"""Every error evalkit raises on purpose, and the exit code each one means.

    EvalkitError                      exit 2 unless a subclass says otherwise
    ├── UsageError                    bad command-line options            (2)
    ├── SuiteError                    a suite, gates or data file is wrong (2)
    │     carries file, line, column and field: ``file:line:col: field: message``
    ├── ResultsError                  a run directory cannot be read       (2)
    ├── IncompatibleRuns              runs that cannot be compared         (2)
    ├── MissingDependency             an optional extra is not installed   (2)
    ├── RunAborted                    the run could not complete           (3)
    │     ├── AuthError               401/403 from the endpoint            (3)
    │     └── TooManyErrors           the error-rate limit was passed      (3)
    └── GateFailed                    a quality gate failed                (1)

    ProviderError                     one request failed (recorded per item, never raised to users)
    ├── RateLimited                   429, honours Retry-After
    ├── QuotaExceeded                 429 about quota or billing: never retried
    ├── ServerError                   5xx / 408 / 409: transient
    ├── TransportError                refused, dropped, timed out: transient
    ├── BadResponse                   200 with a body that is not a chat completion
    │     └── ResponseTooLarge        over max_response_bytes: never retried
    ├── ClientError                   400/404/422: never retried
    └── AuthError (see above)

Only the CLI turns these into a message and an exit code; the library never exits.
"""

from __future__ import annotations

from dataclasses import dataclass


class EvalkitError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(EvalkitError):
    exit_code = 2


@dataclass(frozen=True)
class Location:
    """Where in a file a problem is: 1-based line and column, and the field path."""

    file: str
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def format(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where


class SuiteError(EvalkitError):
    """A problem in a suite, gates or data file, with its location."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.location = location
        self.detail = message
        super().__init__(self._format(message, location))

    @staticmethod
    def _format(message: str, location: Location | None) -> str:
        if location is None:
            return message
        prefix = location.format()
        if location.field:
            return f"{prefix}: {location.field}: {message}"
        return f"{prefix}: {message}"


class SuiteErrors(SuiteError):
    """Several suite problems at once (``evalkit validate`` reports them all)."""

    def __init__(self, errors: list[SuiteError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.message for e in errors))


class ResultsError(EvalkitError):
    exit_code = 2


class IncompatibleRuns(EvalkitError):
    exit_code = 2


class MissingDependency(EvalkitError):
    exit_code = 2

    def __init__(self, what: str, install: str) -> None:
        super().__init__(f"{what} is not installed; install it with: {install}")
        self.install = install


class RunAborted(EvalkitError):
    exit_code = 3


class TooManyErrors(RunAborted):
    exit_code = 3


class GateFailed(EvalkitError):
    exit_code = 1


class ProviderError(Exception):
    """One request failed. ``kind`` is recorded in results and counted in summaries."""

    kind = "provider_error"
    retryable = False

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class RateLimited(ProviderError):
    kind = "rate_limited"
    retryable = True


class QuotaExceeded(ProviderError):
    """A 429 about quota or billing (``insufficient_quota``, ``credit_balance_exhausted``...), not about the rate:
    waiting does not help, so it is never retried and costs the rate limiter nothing."""

    kind = "quota_exceeded"
    retryable = False


class ServerError(ProviderError):
    kind = "server_error"
    retryable = True


class TransportError(ProviderError):
    kind = "transport_error"
    retryable = True


class BadResponse(ProviderError):
    kind = "bad_response"
    retryable = True


class ResponseTooLarge(BadResponse):
    """A reply over the size cap (``bad_response``): asking again would cost as much again."""

    retryable = False


class ClientError(ProviderError):
    kind = "client_error"
    retryable = False


class AuthError(ProviderError, RunAborted):
    """401/403: every further request would fail the same way, so the run stops."""

    kind = "auth_error"
    retryable = False
    exit_code = 3

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        ProviderError.__init__(self, message, status, retry_after)
