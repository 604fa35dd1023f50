"""The provider conformance suite: what every provider must do, checked in a few lines.

A provider package subclasses
[`ProviderConformance`][polysource.testing.conformance.ProviderConformance] in its tests and says
how to build
its provider and which requests should succeed or fail in its test environment (recorded
payloads served by ``aioresponses``, or its emulator):

    class TestTiingoConformance(ProviderConformance):
        factory = TiingoProvider
        secrets = {"api_key": "tok-123-secret"}
        fetch_cases = [FetchCase("quote", "AAPL"), FetchCase("daily_bars", "AAPL")]
        error_cases = [ErrorCase("quote", "NOPE", "not_found")]

        @pytest.fixture
        def environment(self, emulator_url):      # whatever makes the cases answerable
            return {"base_url": emulator_url}

Checks that do not apply to a provider's declared capabilities are skipped (a provider with
``max_batch_size == 1`` skips the batch checks), as SQLAlchemy's dialect suite does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import pytest
import pytest_asyncio
from attrs import frozen

from polysource.cache.codec import roundtrip
from polysource.config import ProviderConfig, Secret
from polysource.datasets import STANDARD_DATASETS
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import Dataset, ProviderInfo, Request
from polysource.provider import Provider, ProviderSettings
from polysource.redaction import encodings
from polysource.testing.clock import FakeClock

__all__ = [
    "ErrorCase",
    "FetchCase",
    "OperationCase",
    "OperationErrorCase",
    "ProviderConformance",
]


@frozen
class FetchCase:
    """A request the provider answers in the test environment."""

    dataset: str
    key: str
    region: str = "global"
    tenant: str | None = None
    connection: Any = None


@frozen
class ErrorCase:
    """A request the provider must fail with ``category`` in the test environment."""

    dataset: str
    key: str
    category: ErrorCategory | str
    region: str = "global"
    tenant: str | None = None
    connection: Any = None


@frozen
class OperationCase:
    """An operation the provider performs in the test environment.

    ``connection`` is handed to the provider as the tenant's connection (``None`` for
    ``create_link``).
    """

    operation: str
    params: Any = None
    connection: Any = None
    tenant: str = "conformance-tenant"
    region: str = "global"


@frozen
class OperationErrorCase:
    """An operation the provider must fail with ``category`` in the test environment."""

    operation: str
    category: ErrorCategory | str
    params: Any = None
    connection: Any = None
    tenant: str = "conformance-tenant"
    region: str = "global"


def _check_schema(value: Any, dataset: Dataset[Any]) -> None:
    assert isinstance(value, dataset.schema), (
        f"{dataset.name}: provider returned {type(value).__name__}, "
        f"not the dataset schema {dataset.schema.__name__}"
    )
    if attrs.has(type(value)):
        attrs.validate(value)
    again = roundtrip(value, dataset.schema)
    assert again == value, (
        f"{dataset.name}: value does not survive the cache codec: {value!r} became {again!r}"
    )


class ProviderConformance:
    """Subclass in a provider package's tests; set the class attributes below.

    Attributes:
        factory: The provider factory (its class) with a class-level ``info``.
        secrets: Credentials to configure; their values must never leak.
        fetch_cases: Requests that succeed in the test environment.
        error_cases: Requests that fail with a given category.
        operation_cases: Operations that succeed (params instances of the operation's class).
        operation_error_cases: Operations that fail with a given category.
        batch_keys: Keys for the batch check, per dataset (default: the fetch cases' keys).
        extra_datasets: Datasets the plugin registers beyond the standard ones.
    """

    factory: ClassVar[Any]
    secrets: ClassVar[Mapping[str, str]] = {}
    fetch_cases: ClassVar[Sequence[FetchCase]] = ()
    error_cases: ClassVar[Sequence[ErrorCase]] = ()
    batch_keys: ClassVar[Mapping[str, Sequence[str]]] = {}
    operation_cases: ClassVar[Sequence[OperationCase]] = ()
    operation_error_cases: ClassVar[Sequence[OperationErrorCase]] = ()
    extra_datasets: ClassVar[Sequence[Dataset[Any]]] = ()

    # -- fixtures a subclass may override -------------------------------------------------------

    @pytest.fixture
    def environment(self) -> Mapping[str, Any]:
        """Extra ``ProviderConfig`` fields (``base_url``, ``options``) for the test environment."""
        return {}

    @pytest.fixture
    def conformance_clock(self) -> FakeClock:
        """The clock handed to the provider."""
        return FakeClock()

    @pytest_asyncio.fixture
    async def provider(
        self, environment: Mapping[str, Any], conformance_clock: FakeClock
    ) -> AsyncIterator[Provider]:
        """The provider under test, closed afterwards."""
        credentials = {name: Secret.of(value) for name, value in self.secrets.items()}
        config = ProviderConfig(credentials=credentials, **dict(environment))
        info = self.info()
        built = self.factory(ProviderSettings(info.name, config, conformance_clock))
        yield built
        await built.close()

    # -- helpers -------------------------------------------------------------------------------

    @classmethod
    def info(cls) -> ProviderInfo:
        """The provider's declared info."""
        return cls.factory.info  # type: ignore[no-any-return]

    @classmethod
    def datasets(cls) -> dict[str, Dataset[Any]]:
        """Datasets known to the suite: the standard ones plus ``extra_datasets``."""
        every: list[Dataset[Any]] = [*STANDARD_DATASETS, *cls.extra_datasets]
        return {d.name: d for d in every}

    def _request(self, case: FetchCase | ErrorCase) -> Request:
        dataset = self.datasets()[case.dataset]
        return Request(
            dataset,
            dataset.normalize_key(case.key),
            case.region,
            tenant=case.tenant,
            connection=case.connection,
        )

    # -- the checks ----------------------------------------------------------------------------

    def test_info_is_valid(self) -> None:
        """The declared info names known datasets, integer ranks, a batch size and limits."""
        from limits import parse

        info = self.info()
        assert info.name, "provider has no name"
        assert info.name == info.name.strip().lower(), "name must be lower-case"
        known = self.datasets()
        unknown = set(info.datasets) - set(known)
        assert not unknown, f"serves unknown datasets {sorted(unknown)}"
        assert info.datasets or info.operations, "serves nothing"
        assert info.regions, "declares no region"
        assert all(isinstance(rank, int) for rank in info.regions.values())
        assert info.max_batch_size >= 1
        for limit in info.rate_limits:
            parse(limit)
        assert info.cost_per_call >= 0

    def test_fetch_cases_cover_datasets(self) -> None:
        """Every dataset and operation the provider declares has at least one case."""
        covered = {case.dataset for case in self.fetch_cases}
        missing = set(self.info().datasets) - covered
        assert not missing, f"no fetch case for {sorted(missing)}"
        done = {case.operation for case in self.operation_cases}
        missing = set(self.info().operations) - done
        assert not missing, f"no operation case for {sorted(missing)}"

    def _call(self, case: OperationCase | OperationErrorCase) -> tuple[Any, Any, Any]:
        from polysource.models import OperationCall
        from polysource.operations import STANDARD_OPERATIONS

        operations = {op.name: op for op in STANDARD_OPERATIONS}
        operation = operations[case.operation]
        params = case.params if case.params is not None else operation.params()  # type: ignore[call-arg]
        call = OperationCall(operation, case.region, case.tenant, case.connection)
        return operation, params, call

    @pytest.mark.asyncio
    async def test_operations_return_their_result_class(self, provider: Provider) -> None:
        """Each operation case answers an instance of the operation's result class."""
        if not self.operation_cases:
            pytest.skip("provider declares no operation cases")
        for case in self.operation_cases:
            operation, params, call = self._call(case)
            value = await provider.execute(operation, params, call)  # type: ignore[attr-defined]
            assert isinstance(value, operation.result), (
                f"{case.operation}: answered {type(value).__name__}, "
                f"not {operation.result.__name__}"
            )
            if attrs.has(type(value)):
                attrs.validate(value)

    @pytest.mark.asyncio
    async def test_operation_errors_map_to_taxonomy(self, provider: Provider) -> None:
        """Each operation error case raises ProviderError with the expected category."""
        if not self.operation_error_cases:
            pytest.skip("provider declares no operation error cases")
        for case in self.operation_error_cases:
            operation, params, call = self._call(case)
            with pytest.raises(ProviderError) as caught:
                await provider.execute(operation, params, call)  # type: ignore[attr-defined]
            assert caught.value.category == ErrorCategory(case.category), (
                f"{case.operation}: expected {case.category}, got {caught.value.category}"
            )
            assert caught.value.provider == self.info().name

    @pytest.mark.asyncio
    async def test_fetch_returns_schema(self, provider: Provider) -> None:
        """Each answer is an instance of the dataset schema and survives the cache codec."""
        if not self.fetch_cases:
            pytest.skip("no fetch cases declared")
        for case in self.fetch_cases:
            request = self._request(case)
            value = await provider.fetch(request)
            _check_schema(value, request.dataset)

    @pytest.mark.asyncio
    async def test_batch_respects_capability(self, provider: Provider) -> None:
        """A batch answer covers only asked keys, each in the schema, within max_batch_size."""
        info = self.info()
        if info.max_batch_size <= 1 or not hasattr(provider, "fetch_batch"):
            pytest.skip("provider does not batch")
        by_dataset: dict[str, list[str]] = {}
        for case in self.fetch_cases:
            by_dataset.setdefault(case.dataset, []).append(case.key)
        by_dataset.update({k: list(v) for k, v in self.batch_keys.items()})
        checked = 0
        for name, keys in by_dataset.items():
            dataset = self.datasets()[name]
            canonical = [dataset.normalize_key(k) for k in keys][: info.max_batch_size]
            request = Request(dataset, canonical[0], "global")
            try:
                answer = await provider.fetch_batch(request, canonical)
            except ProviderError as exc:
                if exc.category is ErrorCategory.INVALID_REQUEST:
                    continue  # this dataset is not batched by the provider
                raise
            assert set(answer) <= set(canonical), f"answered unasked keys {set(answer)}"
            for value in answer.values():
                _check_schema(value, dataset)
            checked += 1
        if not checked:
            pytest.skip("no dataset is batched")

    @pytest.mark.asyncio
    async def test_errors_map_to_taxonomy(self, provider: Provider) -> None:
        """Each error case raises ProviderError with the expected category and provider name."""
        if not self.error_cases:
            pytest.skip("no error cases declared")
        for case in self.error_cases:
            with pytest.raises(ProviderError) as caught:
                await provider.fetch(self._request(case))
            error = caught.value
            assert error.category == ErrorCategory(case.category), (
                f"{case.dataset} {case.key!r}: expected {case.category}, got {error.category}"
            )
            assert error.provider == self.info().name

    @pytest.mark.asyncio
    async def test_no_secret_in_errors_or_repr(self, provider: Provider) -> None:
        """No configured secret, in any encoding, appears in the provider's repr or its errors."""
        if not self.secrets:
            pytest.skip("provider takes no secrets")
        texts = [repr(provider), str(provider)]
        for case in self.error_cases:
            try:
                await provider.fetch(self._request(case))
            except ProviderError as exc:
                texts += [str(exc), repr(exc), repr(exc.__cause__), str(exc.__cause__)]
        for op_case in self.operation_error_cases:
            operation, params, call = self._call(op_case)
            try:
                await provider.execute(operation, params, call)  # type: ignore[attr-defined]
            except ProviderError as exc:
                texts += [str(exc), repr(exc), repr(exc.__cause__), str(exc.__cause__)]
        for ok_case in self.operation_cases:
            operation, params, call = self._call(ok_case)
            try:
                value = await provider.execute(operation, params, call)  # type: ignore[attr-defined]
            except ProviderError as exc:
                texts += [str(exc), repr(exc)]
            else:
                texts.append(repr(value))
        for secret in self.secrets.values():
            # raw, percent-encoded, JSON-escaped and base64 (as inside a Basic header)
            forms = [form for form in encodings(secret) if form == secret or len(form) >= 8]
            for text in texts:
                for form in forms:
                    assert form not in text, "a secret leaked into an error or repr"
