"""Every exception the client libraries define maps to the provider's errors, in the one place per library.

Like httpx's test over httpcore's exceptions: walk each library's exception classes, build one of each and check
the translation gives an ``M365MailError``; a class a new release adds fails here until it is mapped.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

import aiosmtplib.errors
import httpx
import msal.exceptions
import pytest
import requests.exceptions

from airflow_provider_m365mail.core.auth.token_errors import is_token_request_error, translate_token_error
from airflow_provider_m365mail.core.errors import M365MailError, PermanentSendError, TransientSendError
from airflow_provider_m365mail.core.transports.http_errors import error_from_transport
from airflow_provider_m365mail.core.transports.smtp.errors import is_translatable, translate

AUTHORITY = "https://login.microsoftonline.com/contoso.onmicrosoft.com"


def exception_classes(module: ModuleType, names: list[str] | None = None) -> list[type[BaseException]]:
    """Return the exception classes (not warnings) ``module`` defines, or those of ``names``."""
    found = [getattr(module, name) for name in (names if names is not None else dir(module))]
    return [
        cls for cls in found
        if inspect.isclass(cls) and issubclass(cls, BaseException) and not issubclass(cls, Warning)
        and cls.__module__.split(".")[0] == module.__name__.split(".")[0]
    ]


def build(cls: type[BaseException]) -> BaseException:
    """Make an instance of ``cls`` from the names of its constructor's parameters."""
    values: dict[str, Any] = {
        "code": 451, "message": "4.3.0 something failed", "recipient": "bob@contoso.com",
        "sender": "airflow@contoso.com", "error": "server_error", "error_description": "failed",
        "request": httpx.Request("POST", "https://graph.microsoft.com/v1.0/me/sendMail"),
    }
    values["recipients"] = [aiosmtplib.errors.SMTPRecipientRefused(550, "5.1.1 unknown", "bob@contoso.com")]
    values["response"] = httpx.Response(500, request=values["request"])
    args, kwargs = [], {}
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind is parameter.POSITIONAL_ONLY or (
            parameter.kind is parameter.POSITIONAL_OR_KEYWORD and parameter.default is parameter.empty
        ):
            args.append(values[parameter.name])
        elif parameter.kind is parameter.KEYWORD_ONLY and parameter.name in values:
            kwargs[parameter.name] = values[parameter.name]
    try:
        return cls(*args, **kwargs)
    except TypeError:  # requests' JSONDecodeError takes json's (msg, doc, pos) through *args
        return cls("Expecting value", "<html>", 0)


@pytest.mark.parametrize("cls", exception_classes(aiosmtplib.errors, aiosmtplib.errors.__all__),
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("stage", ["connect", "auth", "rcpt", "data"])
def test_every_aiosmtplib_exception_becomes_a_provider_error(cls: type[BaseException], stage: Any) -> None:
    exc = build(cls)
    assert is_translatable(exc)
    assert isinstance(translate(exc, stage), M365MailError)


@pytest.mark.parametrize("cls", [*exception_classes(requests.exceptions), *exception_classes(msal.exceptions)],
                         ids=lambda c: c.__name__)
def test_every_requests_and_msal_exception_becomes_a_provider_error(cls: type[BaseException]) -> None:
    exc = build(cls)
    assert is_token_request_error(exc)
    error = translate_token_error(exc, AUTHORITY)
    assert isinstance(error, (TransientSendError, PermanentSendError))
    assert AUTHORITY in str(error)


@pytest.mark.parametrize("cls", exception_classes(httpx, httpx.__all__), ids=lambda c: c.__name__)
def test_every_httpx_exception_becomes_a_provider_error(cls: type[BaseException]) -> None:
    error = error_from_transport(build(cls), "sending the message")  # type: ignore[arg-type]
    assert isinstance(error, M365MailError)


def test_the_walks_cover_every_library_they_name() -> None:
    assert len(exception_classes(aiosmtplib.errors, aiosmtplib.errors.__all__)) >= 15
    assert len(exception_classes(requests.exceptions)) >= 20
    assert len(exception_classes(httpx, httpx.__all__)) >= 25
