"""The official MX SDK (mx-platform-python) works against the emulator.

The SDK is synchronous (urllib3), so its calls run in a worker thread while the emulator is
served by the test's event loop. Its pydantic models are strict (``StrictStr``,
``StrictFloat``, the ``date`` key read as ``var_date``), so a wrong JSON type in the
emulator fails deserialisation here.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from polysource.config import Secret
from polysource.connections import Connection
from polysource.emulation import Faults, serve
from polysource.models import OperationCall
from polysource.operations import (
    GET_ACCOUNTS,
    SYNC_TRANSACTIONS,
    GetAccounts,
    SyncTransactions,
)
from polysource_mx.emulator import create_app

from .conftest import WALL

mx = pytest.importorskip("mx_platform_python", reason="the SDK is not installed")

CLIENT_ID = "sdk-client-id-77"
API_KEY = "sdk-api-key-88"


def _client(url: str, api_key: str = API_KEY):
    configuration = mx.Configuration(host=url, username=CLIENT_ID, password=api_key)
    return mx.ApiClient(configuration)


def _link_with_sdk(client) -> tuple[str, str, object]:
    """create user -> institution credentials -> create member, as the SDK's README does."""
    users = mx.UsersApi(client)
    created = users.create_user(
        mx.UserCreateRequestBody(user=mx.UserCreateRequest(id="sdk-user", metadata="{}"))
    )
    user_guid = created.user.guid
    fields = mx.InstitutionsApi(client).list_institution_credentials("mxbank").credentials
    values = {"LOGIN": "mxuser", "PASSWORD": "password"}
    body = mx.MemberCreateRequestBody(
        member=mx.MemberCreateRequest(
            institution_code="mxbank",
            credentials=[
                mx.CredentialRequest(guid=f.guid, value=values[f.field_name]) for f in fields
            ],
        )
    )
    member = mx.MembersApi(client).create_member(user_guid, body).member
    return user_guid, member.guid, member


async def test_sdk_links_and_reads_accounts_and_transactions(make_provider) -> None:
    """The SDK creates a user and a member, then lists accounts and every transaction page."""
    app = create_app(Faults(seed=6), clock=lambda: WALL, client_id=CLIENT_ID, api_key=API_KEY)
    async with serve(app) as url:
        client = _client(url)
        user_guid, member_guid, member = await asyncio.to_thread(_link_with_sdk, client)
        accounts = await asyncio.to_thread(
            mx.AccountsApi(client).list_member_accounts, user_guid, member_guid
        )
        transactions = mx.TransactionsApi(client)
        first = await asyncio.to_thread(
            transactions.list_transactions_by_member,
            member_guid,
            user_guid,
            page=1,
            records_per_page=10,
            from_date="2024-01-01",
        )
        pages = [first]
        while pages[-1].pagination.current_page < pages[-1].pagination.total_pages:
            pages.append(
                await asyncio.to_thread(
                    transactions.list_transactions_by_member,
                    member_guid,
                    user_guid,
                    page=pages[-1].pagination.current_page + 1,
                    records_per_page=10,
                    from_date="2024-01-01",
                )
            )
        everything = await asyncio.to_thread(
            transactions.list_transactions, user_guid, from_date="2024-01-01", records_per_page=1000
        )
        status = await asyncio.to_thread(
            mx.MembersApi(client).read_member_status, member_guid, user_guid
        )
        found = await asyncio.to_thread(mx.UsersApi(client).list_users, id="sdk-user")

        provider = make_provider(base_url=url, client_id=CLIENT_ID, api_key=API_KEY)
        connection = Connection("t", "mx", member_guid, Secret.of(user_guid), "mxbank")
        ours = await provider.execute(
            GET_ACCOUNTS, GetAccounts(), OperationCall(GET_ACCOUNTS, "US", "t", connection)
        )
        synced = await provider.execute(
            SYNC_TRANSACTIONS,
            SyncTransactions(since=dt.date(2024, 1, 1)),
            OperationCall(SYNC_TRANSACTIONS, "US", "t", connection),
        )
    assert member.connection_status == "CONNECTED" and member.most_recent_job_guid is None
    assert status.member.connection_status == "CONNECTED"
    assert [u.guid for u in found.users] == [user_guid]
    assert [a.guid for a in accounts.accounts] == [a.account_id for a in ours.accounts]
    assert isinstance(accounts.accounts[0].balance, float)
    sdk_ids = [t.guid for page in pages for t in page.transactions]
    assert len(sdk_ids) == first.pagination.total_entries == len(set(sdk_ids))
    assert {t.guid for t in everything.transactions} == set(sdk_ids)
    assert sorted(sdk_ids) == sorted(t.transaction_id for t in synced.transactions)
    sample = first.transactions[0]
    assert sample.var_date and isinstance(sample.amount, float)
    ours_by_id = {t.transaction_id: t for t in synced.transactions}
    sign = 1 if sample.type == "DEBIT" else -1
    assert float(ours_by_id[sample.guid].amount) == sign * sample.amount


async def test_sdk_sees_conflicts_and_bad_credentials_as_api_exceptions() -> None:
    """A duplicate user is 409, an unknown member 404 and a wrong API key 401 for the SDK."""
    app = create_app(Faults(), client_id=CLIENT_ID, api_key=API_KEY)
    async with serve(app) as url:
        users = mx.UsersApi(_client(url))
        body = mx.UserCreateRequestBody(user=mx.UserCreateRequest(id="twice"))
        created = await asyncio.to_thread(users.create_user, body)
        with pytest.raises(mx.ApiException) as conflict:
            await asyncio.to_thread(users.create_user, body)
        members = mx.MembersApi(_client(url))
        with pytest.raises(mx.ApiException) as missing:
            await asyncio.to_thread(members.read_member, "MBR-nope", created.user.guid)
        with pytest.raises(mx.ApiException) as denied:
            await asyncio.to_thread(mx.UsersApi(_client(url, "wrong")).list_users)
    assert conflict.value.status == 409 and "message" in conflict.value.body
    assert missing.value.status == 404
    assert denied.value.status == 401
