"""Two tests that change data, and each still starts from the fixture's state."""


def balances(ns):
    return ns.sql("SELECT Name, Balance FROM Demo.Account ORDER BY Name").rows


def test_interest_is_paid(accounts):
    assert len(balances(accounts)) == 3
    accounts.sql("UPDATE Demo.Account SET Balance = Balance * 2")
    assert [float(balance) for _, balance in balances(accounts)] == [201.0, 401.5, 600.5]


def test_accounts_can_be_closed(accounts):
    assert len(balances(accounts)) == 3  # the other test's changes are not here
    accounts.sql("DELETE FROM Demo.Account WHERE Name = 'Bob'")
    assert [name for name, _ in balances(accounts)] == ["Alice", "Charlie"]
    assert accounts.run('Write $Namespace') == accounts.name
