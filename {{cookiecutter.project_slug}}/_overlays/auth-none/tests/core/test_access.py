"""The open policy (`auth=none`): nothing is checked, nothing is declared."""

from {{ cookiecutter.package_name }}.core.access import current_principal, load_policy


def test_open_policy_checks_nothing_and_declares_no_scheme() -> None:
    policy = load_policy()
    assert policy.open
    assert policy.schemes == {}
    assert policy.request_headers == ()
    assert current_principal() is None
