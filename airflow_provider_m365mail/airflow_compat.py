"""Import, from one place, the Airflow names that moved between Airflow 3.0 and 3.3 (the package's and its tests').

Each name is tried at its newest home first, so current Airflow raises no deprecation warning, and falls back to
where older 3.x releases keep it. Only light modules load here (Airflow has imported them by the time a DAG file
imports a provider): no MSAL, Graph SDK or SMTP client.

Names that stayed put are imported where they live: ``BaseOperator``, ``BaseSensorOperator``, ``PokeReturnValue``,
``DAG`` and ``Context`` from ``airflow.sdk``, ``BaseTrigger`` and ``TriggerEvent`` from ``airflow.triggers.base``.
"""

from __future__ import annotations

from airflow import __version__ as _airflow_version

# BaseNotifier: airflow.sdk.bases.notifier in every 3.x. The shorter ``from airflow.sdk import BaseNotifier``
# fails on 3.0.0, whose lazy export points at a module that does not exist.
from airflow.sdk.bases.notifier import BaseNotifier
from packaging.version import Version

# The running release, e.g. (3, 1, 8), for behaviour that changed without a name moving.
AIRFLOW_VERSION: tuple[int, ...] = Version(_airflow_version).release

# BaseHook: airflow.sdk from 3.1; 3.0 has it only in airflow.hooks.base (3.1+ keeps that as a re-export).
try:
    from airflow.sdk import BaseHook
except ImportError:
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]

# conf: airflow.sdk.configuration from 3.2; 3.0 and 3.1 have only airflow.configuration.
try:
    from airflow.sdk.configuration import conf
except ImportError:
    from airflow.configuration import conf  # type: ignore[no-redef]

# Task exceptions: airflow.sdk.exceptions from 3.2 (airflow.exceptions still re-exports them there, with a
# deprecation warning); 3.0 and 3.1 define them in airflow.exceptions only.
try:
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )

# mask_secret: airflow.sdk.log from a 3.0 patch release on (3.0.6 has it, 3.0.0 not); airflow.sdk.execution_time.
# secrets_masker has it in every 3.x, but 3.1+ warn that importing from there is deprecated.
try:
    from airflow.sdk.log import mask_secret
except ImportError:
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]

# redact, should_hide_value_for_key: airflow.sdk._shared.secrets_masker from 3.1, where Airflow says to import
# them from; 3.0 has them in airflow.sdk.execution_time.secrets_masker (deprecated from 3.1).
try:
    from airflow.sdk._shared.secrets_masker import redact, should_hide_value_for_key
except ImportError:
    from airflow.sdk.execution_time.secrets_masker import (  # type: ignore[no-redef]
        redact,
        should_hide_value_for_key,
    )

# import_string (how the triggerer rebuilds a trigger from its classpath): airflow.sdk.module_loading from 3.1;
# 3.0 has only airflow.utils.module_loading, which 3.3 removed.
try:
    from airflow.sdk.module_loading import import_string  # type: ignore[attr-defined]
except ImportError:
    from airflow.utils.module_loading import import_string  # type: ignore[no-redef,attr-defined]

# amask_secret (register a secret from a running event loop): airflow.sdk.log from 3.3. Before 3.3 the blocking
# form is the only one, and callers on a loop use it.
try:
    from airflow.sdk.log import amask_secret
except ImportError:

    async def amask_secret(secret: str, name: str | None = None) -> None:  # type: ignore[misc]
        """Register ``secret`` with the blocking ``mask_secret``: Airflow before 3.3 has no async form."""
        mask_secret(secret, name)


__all__ = [
    "AIRFLOW_VERSION",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseNotifier",
    "amask_secret",
    "conf",
    "import_string",
    "mask_secret",
    "redact",
    "should_hide_value_for_key",
]
