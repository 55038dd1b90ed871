"""Ask Slack whether a charter's Slack ids are really its people's (`charter check`)."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from partnerships.domain.charter import Charter


def slack_id_problems(charter: Charter, client: WebClient) -> tuple[list[str], list[str]]:
    """Problems (a Slack id that is someone else's) and notes (what could not be checked).

    Only people of the bot's own workspace can be looked up by email; a partner's people in
    their own workspace (Slack Connect) are noted as not checked."""
    problems: list[str] = []
    notes: list[str] = []
    try:
        workspace = client.auth_test().get("team_id")
    except SlackApiError as error:
        return [], [f"Slack ids not checked: Slack refused the bot token ({error.response.get('error')})"]
    seen: set[str] = set()
    for person in charter.people():
        if person.slack_user_id is None or person.email in seen:
            continue
        seen.add(person.email)
        if person.slack_team_id != workspace:
            notes.append(f"{person.email}: Slack id not checked (workspace {person.slack_team_id}, not ours)")
            continue
        try:
            found = client.users_lookupByEmail(email=person.email)["user"]
        except SlackApiError as error:
            if error.response.get("error") == "users_not_found":
                problems.append(f"{person.email}: slack_user_id: Slack knows no user with this email in our workspace")
            else:
                notes.append(f"{person.email}: Slack id not checked ({error.response.get('error')})")
            continue
        if found.get("id") != person.slack_user_id:
            problems.append(
                f"{person.email}: slack_user_id: {person.slack_user_id} is not this person in Slack "
                f"(Slack says {found.get('id')})"
            )
    return problems, notes
