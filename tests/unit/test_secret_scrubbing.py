"""An upstream error's HTTP exchange never carries the API key out of the library.

IBM Cloud's SDK raises ``ApiException`` with the failed ``requests.Response``; its request is
the IAM token exchange, whose body holds the API key. The translated error keeps the upstream
error as its cause, so the cause must no longer hold the exchange.
"""

from __future__ import annotations

import pickle

import pytest
import requests
from ibm_cloud_sdk_core import ApiException
from qiskit_ibm_runtime.accounts.exceptions import InvalidAccountError

from qcsc_prefect.integrations.qiskit._runtime.translate import translating_errors
from qcsc_prefect.integrations.qiskit.errors import RuntimeApiError

KEY = "not-a-real-key-but-secret-0123456789"


def _iam_failure(status: int) -> ApiException:
    request = requests.Request(
        "POST",
        "https://iam.example.invalid/identity/token",
        data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": KEY},
    ).prepare()
    response = requests.Response()
    response.status_code = status
    response.request = request
    response._content = b'{"errorMessage": "Injected fault"}'
    return ApiException(status, http_response=response)


def test_a_translated_iam_outage_keeps_its_status_but_not_the_key() -> None:
    upstream = _iam_failure(500)
    assert KEY.encode() in pickle.dumps(upstream)  # what the SDK hands over
    with pytest.raises(RuntimeApiError) as caught:
        with translating_errors():
            try:
                raise upstream
            except ApiException as exc:
                raise InvalidAccountError("Unable to retrieve instances.") from exc
    ours = caught.value
    assert ours.http_status == 500
    for link in (ours, ours.__cause__, upstream):
        assert KEY.encode() not in pickle.dumps(link)
        assert KEY not in repr(link) and KEY not in str(link)


def test_an_untranslated_error_is_scrubbed_too() -> None:
    upstream = _iam_failure(400)
    with pytest.raises(ApiException) as caught, translating_errors():
        raise upstream
    assert caught.value is upstream
    assert KEY.encode() not in pickle.dumps(caught.value)
